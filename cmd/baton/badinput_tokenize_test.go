// The bad-input catalogue for baton tokenize: tokenizer, inputs, split and output directory.

package main

// tokenizeCases are tokenize command lines that are refused before any
// shard is written.
func tokenizeCases() []badInput {
	tok := func(args ...string) []string { return append([]string{"tokenize"}, args...) }
	return []badInput{
		{name: "tokenize with an unknown tokenizer", args: tok("--tokenizer=gpt4", "--out=shards", "corpus.txt"), code: 2, msg: `unknown --tokenizer "gpt4"`},
		{name: "tokenize without out", args: tok("corpus.txt"), code: 2, msg: "--out is required"},
		{name: "tokenize a missing input", args: tok("--out=shards", "nope.txt"), code: 1, msg: "nope.txt does not exist"},
		{name: "tokenize validation fraction of 1", args: tok("--val-fraction=1", "--out=shards", "corpus.txt"), code: 2, msg: "--val-fraction is 1; it must be at least 0 and below 1"},
		{name: "tokenize negative validation fraction", args: tok("--val-fraction=-0.1", "--out=shards", "corpus.txt"), code: 2, msg: "--val-fraction is -0.1"},
		{name: "tokenize NaN validation fraction", args: tok("--val-fraction=NaN", "--out=shards", "corpus.txt"), code: 2, msg: "--val-fraction is NaN"},
		{name: "tokenize leaving no training tokens", args: tok("--val-fraction=0.9", "--out=shards", "one.txt"), fixture: "one.txt: the single byte x",
			setup: writeFile("one.txt", []byte("x")), code: 2, msg: "2 tokens leave none for training at --val-fraction 0.9"},
		{name: "tokenize an empty file", args: tok("--out=shards", "empty.txt"), fixture: "empty.txt: 0 bytes", setup: writeFile("empty.txt", nil), code: 1, msg: "empty.txt is empty"},
		{name: "tokenize a binary file", args: tok("--out=shards", "blob.dat"), fixture: "blob.dat: 4 KiB of bytes 0..255",
			setup: writeFile("blob.dat", allBytes(4096)), code: 1, msg: "blob.dat looks binary"},
		{name: "tokenize a shard", args: tok("--out=shards", "train.bin"), fixture: "train.bin: a shard of 1000 byte tokens",
			setup: writeFile("train.bin", shard(20240520, 1, 1000, tokens(1000, 256))), code: 1, msg: "it is tokenized already"},
		{name: "tokenize an empty directory", args: tok("--out=shards", "texts"), fixture: "texts/: an empty directory", setup: mkdir("texts"), code: 1, msg: "texts has no text files"},
		{name: "tokenize an input twice", args: tok("--out=shards", "corpus.txt", "./corpus.txt"), code: 2,
			msg: "INPUT corpus.txt and ./corpus.txt name the same text: give each once"},
		{name: "tokenize a file and its directory", args: tok("--out=shards", "texts", "texts/a.txt"), fixture: "texts/a.txt: 3 bytes",
			setup: writeFile("texts/a.txt", []byte("abc")), code: 2, msg: "INPUT texts/a.txt lies inside INPUT texts: give each text once"},
		{name: "tokenize out over the input", args: tok("--out=corpus.txt", "corpus.txt"), code: 2, msg: "--out corpus.txt is also INPUT"},
		{name: "tokenize out inside the input directory", args: tok("--out=texts/shards", "texts"), fixture: "texts/a.txt: 3 bytes",
			setup: writeFile("texts/a.txt", []byte("abc")), code: 2, msg: "--out texts/shards lies inside INPUT texts"},
		{name: "tokenize out names a file", args: tok("--out=afile", "corpus.txt"), fixture: "afile: a file", setup: writeFile("afile", []byte("x")), code: 2, msg: "--out afile is a file"},
		{name: "tokenize out beneath a file", args: tok("--out=afile/shards", "corpus.txt"), fixture: "afile: a file", setup: writeFile("afile", []byte("x")), code: 2, msg: "--out afile/shards lies under afile, which is a file"},
		{name: "tokenize out already holding shards", args: tok("--out=shards", "corpus.txt"), fixture: "shards/train_000000.bin: a shard",
			setup: writeFile("shards/train_000000.bin", shard(20240520, 1, 1000, tokens(1000, 256))), code: 2, msg: "--out shards already holds 1 .bin shards"},
	}
}
