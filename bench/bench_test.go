// Tests of the writers on hand-made results, and of a two-point sweep on the real trainer.

package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image/png"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
)

// handMade is a sweep as Run would return it: naive on 1, 2, 4 devices and
// two schedules at two micro-batch counts, with one point skipped.
func handMade() []Result {
	pt := func(s string, p, m int, meas float64) Result {
		r := Result{Model: "tiny", Schedule: s, Precision: "fp32", Microbatches: m, Chunks: 1, TokensPerSec: 1000 * float64(p), StepS: 0.1,
			BubbleMeasured: meas, BubbleSimulated: meas + 0.01, BubbleAnalytic: max(meas-0.01, 0)} // a fraction, never negative
		for d := range p {
			r.Devices = append(r.Devices, "cpu:"+string(rune('0'+d)))
			r.IdleFrac = append(r.IdleFrac, meas)
			r.PeakBytes = append(r.PeakBytes, int64(1<<20)*int64(d+1))
		}
		return r
	}
	return []Result{
		pt("naive", 1, 1, 0), pt("naive", 2, 1, 0.5), pt("naive", 4, 1, 0.75),
		pt("1f1b", 4, 4, 0.43), pt("1f1b", 4, 8, 0.27), pt("gpipe", 4, 4, 0.44), pt("gpipe", 4, 8, 0.28),
		{Model: "tiny", Schedule: "interleaved", Microbatches: 2, Chunks: 2, Skipped: "m must be a multiple of p"},
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, handMade()); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := "model,devices,schedule,precision,microbatches,chunks,tokens_per_sec,bubble_measured,bubble_simulated,bubble_analytic,step_s," +
		"idle_frac_0,idle_frac_1,idle_frac_2,idle_frac_3,peak_bytes_0,peak_bytes_1,peak_bytes_2,peak_bytes_3"
	if got := strings.Join(rows[0], ","); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	if len(rows) != 1+7 { // the skipped point has no row
		t.Fatalf("%d rows, want 8", len(rows))
	}
	if got := strings.Join(rows[2], ","); got != "tiny,2,naive,fp32,1,1,2000.0,0.500000,0.510000,0.490000,0.100000,0.500000,0.500000,,,1048576,2097152,," {
		t.Errorf("naive p=2 row: %s", got)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	rep := Report{Command: "go run ./cmd/baton bench --quick", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Machine: Machine{CPU: "Test CPU", Cores: 2, Go: "go1.26", OS: "linux/amd64"},
		Options: Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3, DataLimit: 1 << 20},
		CSV:     "x.csv", Charts: []string{"x-textbook"}}
	if err := WriteMarkdown(&b, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if first, _, _ := strings.Cut(md, "\n"); first != "`go run ./cmd/baton bench --quick`" {
		t.Errorf("first line %q is not the command", first)
	}
	for _, want := range []string{"Test CPU, 2 cores", "| 4 | 25.0% | 25.0% | 75.0%, 75.0%, 75.0%, 75.0% | 75.0% |",
		"| 1f1b | fp32 | 4 | 8 | 1 | 4000 | 100.0 | 27.0% | 28.0% | 26.0% |", "m must be a multiple of p", "![x-textbook](x-textbook.svg)",
		"least idle schedule on 4 devices is 1f1b with m=8"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	rep.Options.Steps, rep.Machine.Cores = 1, 1
	b.Reset()
	if err := WriteMarkdown(&b, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"and then 1 measured step with", "Test CPU, 1 core,"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("a sweep of 1 measured step on 1 core: report lacks %q:\n%s", want, b.String())
		}
	}
	// --data-limit 0 takes all of the corpus; under 1 MiB is no 0 MiB.
	for limit, want := range map[int64]string{0: "with `runtime.Trainer` on all of the Go standard library sources;",
		1 << 20: "on 1.00 MiB sampled from the Go standard library sources;", 300 << 10: "on 300.00 KiB sampled from"} {
		rep.Options.DataLimit = limit
		b.Reset()
		if err := WriteMarkdown(&b, rep, handMade()); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("--data-limit %d: report lacks %q:\n%s", limit, want, b.String())
		}
	}
}

// TestHeadlineOfSeveralPrecisions: a sweep of fp32 and tf32 heads its
// report and its printed line alike, with the first precision's figures,
// named.
func TestHeadlineOfSeveralPrecisions(t *testing.T) {
	rs := handMade()
	for _, r := range handMade() {
		if r.Skipped == "" {
			r.Precision, r.BubbleMeasured, r.TokensPerSec = "tf32", r.BubbleMeasured/2, 2*r.TokensPerSec
			rs = append(rs, r)
		}
	}
	o := Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3, Precisions: []kernels.Precision{kernels.FP32, kernels.TF32}}
	h := SweepHeadline(o, rs)
	if !strings.HasPrefix(h, "fp32: naive on 4 devices idles 75.0%") || !strings.Contains(h, "1f1b with m=8 at 27.0%") {
		t.Errorf("headline %q; want fp32's figures, named", h)
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, Report{Options: o}, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "**Headline:** "+h+"\n") {
		t.Errorf("the report's headline differs from %q:\n%s", h, b.String())
	}
}

// peerRows are PyTorch's figures as scripts/torch_peer.py writes them.
const peerRows = `model,devices,schedule,precision,microbatches,chunks,tokens_per_sec,bubble_measured,bubble_simulated,bubble_analytic,step_s,idle_frac_0,peak_bytes_0
tiny,1,torch-eager,fp32,1,1,500.0,,,,0.200000,,3145728
tiny,1,torch-compile,bf16,1,1,4000.0,,,,0.025000,,1048576
`

func TestReadCSV(t *testing.T) {
	peer, err := ReadCSV(strings.NewReader(peerRows))
	if err != nil {
		t.Fatal(err)
	}
	if len(peer) != 2 {
		t.Fatalf("%d rows, want 2", len(peer))
	}
	r := peer[0]
	if r.Model != "tiny" || r.P() != 1 || r.Schedule != "torch-eager" || r.Precision != "fp32" || r.TokensPerSec != 500 || r.StepS != 0.2 ||
		!math.IsNaN(r.BubbleMeasured) || len(r.IdleFrac) != 0 || len(r.PeakBytes) != 1 || r.PeakBytes[0] != 3<<20 {
		t.Errorf("first row read as %+v", r)
	}

	// A spreadsheet's export begins with a byte order mark, before a
	// header it may quote.
	for _, exported := range []string{"\ufeff" + peerRows, "\ufeff\"model\"" + strings.TrimPrefix(peerRows, "model")} {
		if again, err := ReadCSV(strings.NewReader(exported)); err != nil || len(again) != 2 || again[0].TokensPerSec != 500 {
			t.Errorf("the rows after a byte order mark: %d rows, %v", len(again), err)
		}
	}

	// baton's own CSV, PyTorch's rows appended, reads back to the same CSV.
	var b, again bytes.Buffer
	if err := WriteCSV(&b, append(handMade(), peer...)); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&again, back); err != nil {
		t.Fatal(err)
	}
	if b.String() != again.String() {
		t.Errorf("CSV changed on a round trip:\n%s\nthen\n%s", b.String(), again.String())
	}

	head := strings.Join(CSVHeader(1), ",") + "\n"
	for _, bad := range []struct{ csv, want string }{
		{"", "no header"},
		{"model,devices,schedule,tokens_per_sec,step_s\n", `no "precision" column`},
		{"model,devices,schedule,precision,tokens_per_sec,step_s\ntiny,1,torch-eager,fp32,fast,0.1\n", `line 2, tokens_per_sec: "fast" is not a number`},
		{"model,devices,schedule,precision,tokens_per_sec,step_s\ntiny,0,torch-eager,fp32,1,0.1\n", "line 2, devices: 0"},
		{"model,devices,schedule,precision,tokens_per_sec,step_s\ntiny,1000000000,torch-eager,fp32,1,0.1\n", "line 2, devices: 1000000000; want from 1 to 16384"},
		{"model,devices,schedule,precision,tokens_per_sec,step_s\ntiny,1,torch-eager,fp32,,0.1\n", "line 2: tokens_per_sec and step_s are required"},
		{head + "tiny,1,torch-eager,fp32,1,1,-5,,,,0.1,,\n", "line 2, tokens_per_sec: -5; want a finite number above 0"},
		{head + "tiny,1,torch-eager,fp32,1,1,Inf,,,,0.1,,\n", "line 2, tokens_per_sec: Inf; want a finite number above 0"},
		{head + "tiny,1,torch-eager,fp32,1,1,NaN,,,,0.1,,\n", "line 2, tokens_per_sec: NaN; want a finite number above 0"},
		{head + "tiny,1,torch-eager,fp32,1,1,0,,,,0,,\n", "line 2, tokens_per_sec: 0; want a finite number above 0"},
		{head + "tiny,1,torch-eager,fp32,1,1,1000,,,,0,,\n", "line 2, step_s: 0; want a finite number of seconds above 0"},
		{head + "tiny,1,torch-eager,fp32,1,1,1000,1.5,,,0.1,,\n", "line 2, bubble_measured: 1.5; want a fraction from 0 to 1"},
		{head + "tiny,1,torch-eager,fp32,1,1,1000,,,,0.1,-0.2,\n", "line 2, idle_frac_0: -0.2; want a fraction from 0 to 1"},
		{head + "tiny,1,torch-eager,fp32,1,1,1000,,,,0.1,,-7\n", "line 2, peak_bytes_0: -7; want a number of bytes, 0 or more"},
		{head + "tiny,1,torch-eager,fp99,1,1,1000,,,,0.1,,\n", `line 2, precision: "fp99"; want fp32, tf32 or bf16`},
		{head + "tiny,1,torch-eager,,1,1,1000,,,,0.1,,\n", `line 2, precision: ""; want fp32, tf32 or bf16`},
		{head + "tiny,1,torch-eager,fp32,0,1,1000,,,,0.1,,\n", "line 2, microbatches: 0; want at least 1"},
		{head + "tiny,1,torch-eager,fp32,1,-1,1000,,,,0.1,,\n", "line 2, chunks: -1; want at least 1"},
	} {
		if _, err := ReadCSV(strings.NewReader(bad.csv)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ReadCSV(%q): error %v, want %q", bad.csv, err, bad.want)
		}
	}
	widest := fmt.Sprintf("model,devices,schedule,precision,tokens_per_sec,step_s\nbig,%d,torch-eager,fp32,1,0.1\n", model.MaxLayers)
	if rs, err := ReadCSV(strings.NewReader(widest)); err != nil || rs[0].P() != model.MaxLayers {
		t.Errorf("a row of as many devices as a model may have layers: %v", err)
	}
}

// TestPeerHeader: scripts/torch_peer.py writes the header of a one-device CSV.
func TestPeerHeader(t *testing.T) {
	src, err := os.ReadFile("../scripts/torch_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)CSV_HEADER = \[(.*?)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no CSV_HEADER list in scripts/torch_peer.py")
	}
	var names []string
	for _, q := range regexp.MustCompile(`"([a-z_0-9]+)"`).FindAllSubmatch(m[1], -1) {
		names = append(names, string(q[1]))
	}
	if got, want := strings.Join(names, ","), strings.Join(CSVHeader(1), ","); got != want {
		t.Errorf("torch_peer.py's header\n %s\nbench's\n %s", got, want)
	}
}

func TestWriteMarkdownPeer(t *testing.T) {
	peer, err := ReadCSV(strings.NewReader(peerRows))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep := Report{Command: "c", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Machine: Machine{CPU: "Test CPU", Cores: 2},
		Options: Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3}, Peer: peer}
	if err := WriteMarkdown(&b, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if strings.Contains(md, "same GPU") {
		t.Errorf("a sweep on CPU devices claims the peer's GPU:\n%s", md)
	}
	for _, want := range []string{"## Beside PyTorch\n\nbaton ran on CPU devices; the peer file does not say where",
		"| tiny | baton naive | fp32 | 1000 | 100.0 | 1.0 | 2.00× |\n", // baton's p=1 point: 1000 tokens/s vs eager's 500
		"| tiny | PyTorch eager | fp32 | 500 | 200.0 | 3.0 | 1.00× |\n",
		"| tiny | PyTorch compile | bf16 | 4000 | 25.0 | 1.0 |  |\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// No GPU, or one baton has no peak for: no MFU, column or sentence.
	for _, gpus := range [][]string{nil, {"Some GPU"}} {
		rep.Machine.GPUs = gpus
		b.Reset()
		if err := WriteMarkdown(&b, rep, handMade()); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "MFU") {
			t.Errorf("GPUs %q: the report speaks of MFU, which it cannot give:\n%s", gpus, b.String())
		}
	}
	// On an H100, MFU is tokens/s × (6N + 6LCT) FLOPs per token over the
	// dense peak: with gpt2-124m's 802.8 MFLOP per token (N = 124.44 M, L =
	// 12, C = 768, T = 1024), 4000 tokens/s in bf16 are 3.21 TFLOP/s, 0.3%
	// of 989.4, and 500 in fp32 0.40 TFLOP/s, 0.6% of 67.
	rep.Machine.GPUs = []string{"NVIDIA H100 80GB HBM3"}
	rep.Options.Model = model.Presets["gpt2-124m"]
	b.Reset()
	if err := WriteMarkdown(&b, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Beside PyTorch on the same GPU\n", "MFU is the model's training FLOPs", "| vs PyTorch eager | MFU |\n",
		"| tiny | PyTorch compile | bf16 | 4000 | 25.0 | 1.0 |  | 0.3% |\n", "| tiny | PyTorch eager | fp32 | 500 | 200.0 | 3.0 | 1.00× | 0.6% |\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPeerOfOtherModels: a peer file's rows of another model or of several
// devices get no ratio and no row in the table, only a plain mention, and a
// row that is not PyTorch's is named as the file names it, never as baton's.
func TestPeerOfOtherModels(t *testing.T) {
	peer, err := ReadCSV(strings.NewReader(peerRows + `gpt2-124m,1,torch-eager,fp32,1,1,50383.2,,,,0.160000,,3145728
tiny,3,torch-eager,fp32,1,1,9000.0,,,,0.010000,,1048576
tiny,1,myrun,fp32,1,1,250.0,,,,0.400000,,2998927
`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep := Report{Machine: Machine{CPU: "Test CPU", Cores: 2}, Options: Options{Preset: "tiny", Model: model.Presets["tiny"], Batch: 8, Steps: 3}, Peer: peer}
	if err := WriteMarkdown(&b, rep, handMade()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| tiny | baton naive | fp32 | 1000 | 100.0 | 1.0 | 2.00× |\n", // still against tiny's eager 500, not gpt2-124m's nor p=3's
		"| tiny | myrun | fp32 | 250 | 400.0 | 2.9 | 0.50× |\n",        // 2.86 MiB, not 3
		"Not compared, being of another model than `tiny` or of several devices: `gpt2-124m` PyTorch eager fp32, p=1, 50383 tokens/s; `tiny` PyTorch eager fp32, p=3, 9000 tokens/s.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"| gpt2-124m |", "| tiny | PyTorch eager | fp32 | 9000 |", "baton myrun"} {
		if strings.Contains(md, bad) {
			t.Errorf("report has %q:\n%s", bad, md)
		}
	}
}

func TestCharts(t *testing.T) {
	charts, err := Charts(handMade())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
		svg, pngBytes, err := c.Render()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.HasSuffix(bytes.TrimSpace(svg), []byte("</svg>")) {
			t.Errorf("%s.svg is not an SVG document", c.Name)
		}
		img, err := png.Decode(bytes.NewReader(pngBytes))
		if err != nil {
			t.Errorf("%s.png: %v", c.Name, err)
		} else if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
			t.Errorf("%s.png is %v", c.Name, b)
		}
	}
	// Write removes stale charts by these kinds: every chart must be one.
	if got, want := strings.Join(names, ","), strings.Join(chartKinds, ","); got != want {
		t.Errorf("charts %s, want %s", got, want)
	}
}

func TestMachineNamesTheGPUDriver(t *testing.T) {
	m := Machine{CPU: "Test CPU", Cores: 16, Go: "go1.26", OS: "linux/amd64",
		GPUs: []string{"NVIDIA H100 80GB HBM3 (cuda:0, 132 SMs, 80 GiB)"}, Driver: "NVIDIA driver 580.65.06, CUDA 13.0"}
	if got, want := m.String(), "NVIDIA H100 80GB HBM3 (cuda:0, 132 SMs, 80 GiB), NVIDIA driver 580.65.06, CUDA 13.0; host Test CPU, 16 cores"; !strings.HasPrefix(got, want) {
		t.Errorf("machine %q, want it to start %q", got, want)
	}
	const proc = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:29 UTC 2025\nGCC version:  gcc version 12.2.0\n"
	if v := moduleVersion(proc); v != "580.65.06" {
		t.Errorf("module version %q from %q", v, proc)
	}
	const open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@U22-I3-AE18-23-3)  Thu Jul 31 2025\n"
	if v := moduleVersion(open); v != "580.159.04" {
		t.Errorf("module version %q from %q", v, open)
	}
	if v := moduleVersion("garbage"); v != "" {
		t.Errorf("module version %q from garbage", v)
	}
}

func TestSlug(t *testing.T) {
	m := Machine{CPU: "Intel(R) Xeon(R) CPU @ 2.10GHz", Cores: 2}
	if got := m.Slug(); got != "intel-xeon-2-10ghz-2c" {
		t.Errorf("slug %q", got)
	}
	m.GPUs = []string{"NVIDIA H100 80GB HBM3 (cuda:0, 132 SMs, 80 GiB)"}
	if got := m.Slug(); got != "nvidia-h100-80gb-hbm3" {
		t.Errorf("GPU slug %q", got)
	}
}

// TestTinySweep runs two real points (naive and 1f1b on 2 virtual devices)
// through the trainer and writes every file of a report.
func TestTinySweep(t *testing.T) {
	mc := model.Presets["tiny"]
	devs, err := device.Expand("cpu:0,cpu:1")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Preset: "tiny", Model: mc, Devices: devs, Ps: []int{2}, Schedules: []string{"naive", "1f1b"},
		Microbatches: []int{2}, Precisions: kernels.Precisions, Chunks: 1, Batch: 4, Steps: 1, DataLimit: 64 << 10, Seed: 1, Command: "test"}
	all, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Result
	for _, r := range all {
		if r.Precision != "fp32" {
			if !strings.Contains(r.Skipped, "fp32 only") {
				t.Errorf("%s on cpu: devices ran, or was skipped for another reason: %+v", r.Precision, r)
			}
			continue
		}
		rs = append(rs, r)
	}
	if len(rs) != 2 || len(all) != 6 {
		t.Fatalf("%d results, %d of them fp32; want 6 and 2", len(all), len(rs))
	}
	for _, r := range rs {
		if r.Skipped != "" || r.P() != 2 || len(r.IdleFrac) != 2 || len(r.PeakBytes) != 2 || r.TokensPerSec <= 0 || r.StepS <= 0 || r.PeakBytes[0] <= 0 {
			t.Errorf("bad result %+v", r)
		}
	}
	if rs[0].Microbatches != 1 || rs[0].BubbleAnalytic != 0.5 {
		t.Errorf("naive ran m=%d with analytic bubble %g; want 1 and 0.5", rs[0].Microbatches, rs[0].BubbleAnalytic)
	}
	dir := t.TempDir()
	paths, _, err := Write(context.Background(), dir, Report{Command: "test", Date: time.Now(), Machine: Describe(nil), Options: o}, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 { // the CSV and the Markdown: one p and one m draw no line, so no chart
		t.Errorf("wrote %v", paths)
	}
}
