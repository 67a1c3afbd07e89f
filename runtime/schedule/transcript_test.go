// Transcript tests, after etcd raft's data-driven ones: testdata/transcripts/*.txt hold commands and the output they must give; -update rewrites the outputs.

package schedule

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the outputs in testdata/transcripts/ instead of comparing with them")

// A transcript is a sequence of cases, each
//
//	# comments, and blank lines, between cases
//	command arg key=value …
//	input lines (csv only)
//	----
//	output lines, up to a blank line or the end of the file
//
// The commands act on the schedule the last generate or csv made:
//
//	generate NAME p=P m=M [v=V]   GenerateChunks; prints the sizes, the traits and Grid(false)
//	csv                           ReadCSV of the input lines; prints the sizes and Grid(false)
//	write-csv                     WriteCSV
//	lower                         Lower; prints each device's list
//	simulate f=F b=B [i=I w=W] [scale=S0,S1,…]
//	                              Simulate of the lowered schedule: each device's
//	                              actions with start and end, idle, the bubble beside
//	                              the analytic one, the steady state. I and W cost b/2
//	                              unless given; stage s's costs are multiplied by Ss.
//	stash                         PeakInFlight, StashBound of the lowered lists, Stashes
//
// An error is output too: "error: …".
type transcriptCase struct {
	line   int      // of the command, for messages
	text   string   // the command line
	head   []string // comments and blank lines before the command
	cmd    string
	args   map[string]string
	pos    []string // arguments without '='
	input  []string
	output string
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts under testdata/transcripts: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) { runTranscript(t, path) })
	}
}

func runTranscript(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases, tail, err := parseTranscript(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var cur *Schedule
	var out strings.Builder
	for _, c := range cases {
		got := runCase(&cur, c)
		if !*update && got != c.output {
			t.Errorf("%s:%d: %s %s\n got:\n%s\nwant:\n%s\n(rerun with -update if the change is intended)",
				path, c.line, c.cmd, strings.Join(c.pos, " "), got, c.output)
		}
		for _, h := range c.head {
			out.WriteString(h + "\n")
		}
		out.WriteString(c.source() + "----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
		out.WriteString("\n") // the end of the output
	}
	for _, h := range tail {
		out.WriteString(h + "\n")
	}
	if *update {
		text := strings.TrimSuffix(out.String(), "\n") // no end of output at the end of the file
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// parseTranscript splits a transcript into its cases and the comment lines
// after the last one.
func parseTranscript(text string) ([]transcriptCase, []string, error) {
	var cases []transcriptCase
	var head []string
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			head = append(head, l)
			continue
		}
		c := transcriptCase{line: i + 1, text: l, head: head, args: map[string]string{}}
		head = nil
		fields := strings.Fields(l)
		c.cmd = fields[0]
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				c.args[k] = v
			} else {
				c.pos = append(c.pos, f)
			}
		}
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.input = append(c.input, lines[i])
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("line %d: %s has no ---- line", c.line, c.cmd)
		}
		var out []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		c.output = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases, head, nil
}

// source is the case's command line and input as written.
func (c transcriptCase) source() string {
	return strings.Join(append([]string{c.text}, c.input...), "\n") + "\n"
}

// runCase runs one command on *cur and returns its output.
func runCase(cur **Schedule, c transcriptCase) string {
	out, err := runCommand(cur, c)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSuffix(out, "\n")
}

func runCommand(cur **Schedule, c transcriptCase) (string, error) {
	if c.cmd != "generate" && c.cmd != "csv" && *cur == nil {
		return "", fmt.Errorf("%s before any generate or csv", c.cmd)
	}
	switch c.cmd {
	case "generate":
		return generateCmd(cur, c)
	case "csv":
		s, err := ReadCSV(strings.NewReader(strings.Join(c.input, "\n")+"\n"), "transcript.csv")
		if err != nil {
			return "", err
		}
		*cur = s
		return sizesOf(s) + s.Grid(false), nil
	case "write-csv":
		var buf bytes.Buffer
		err := (*cur).WriteCSV(&buf)
		return buf.String(), err
	case "lower":
		return listsOf(Lower(*cur)), nil
	case "simulate":
		return simulateCmd(*cur, c)
	case "stash":
		s := *cur
		return fmt.Sprintf("peak in flight: %v\nstash bound: %v\nstashes: %v\n",
			s.PeakInFlight(), StashBound(Lower(s).Lists, s.Stages), s.Stashes()), nil
	}
	return "", fmt.Errorf("unknown command %q", c.cmd)
}

func generateCmd(cur **Schedule, c transcriptCase) (string, error) {
	if len(c.pos) != 1 {
		return "", fmt.Errorf("generate takes one schedule name")
	}
	n := map[string]int{"v": 1}
	for _, k := range []string{"p", "m", "v"} {
		if v, ok := c.args[k]; ok {
			x, err := strconv.Atoi(v)
			if err != nil {
				return "", fmt.Errorf("%s=%s: %v", k, v, err)
			}
			n[k] = x
		}
	}
	s, err := GenerateChunks(c.pos[0], n["p"], n["m"], n["v"])
	if err != nil {
		return "", err
	}
	*cur = s
	tr, err := Lookup(s.Name)
	if err != nil {
		return "", err
	}
	traits := fmt.Sprintf("traits: chunked %t, one micro-batch %t, split backward %t; bubble %s\n",
		tr.Chunked, tr.OneMicrobatch, tr.SplitBackward, tr.Formula)
	return sizesOf(s) + traits + s.Grid(false), nil
}

// sizesOf is a schedule's name and sizes.
func sizesOf(s *Schedule) string {
	return fmt.Sprintf("%s: p=%d m=%d v=%d, %d stages\n", s.Name, s.Devices, s.Microbatches, s.Chunks, s.Stages)
}

// listsOf prints each device's list on a line.
func listsOf(s *Schedule) string {
	var b strings.Builder
	for d, l := range s.Lists {
		fmt.Fprintf(&b, "dev %d: %s\n", d, joinActions(l))
	}
	return b.String()
}

func simulateCmd(s *Schedule, c transcriptCase) (string, error) {
	cost, err := costOf(c.args)
	if err != nil {
		return "", err
	}
	tl, err := Simulate(Lower(s), cost)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for d, acts := range tl.Actions {
		fmt.Fprintf(&b, "dev %d:", d)
		for _, ta := range acts {
			fmt.Fprintf(&b, " %s %g-%g", ta.Action, ta.Start, ta.End)
		}
		b.WriteString("\n")
	}
	idle := make([]string, len(tl.IdleFrac))
	for d, f := range tl.IdleFrac {
		idle[d] = fmt.Sprintf("%.4f", f)
	}
	fmt.Fprintf(&b, "step time %g, busy %v, idle [%s]\n", tl.StepTime, tl.Busy, strings.Join(idle, " "))
	fmt.Fprintf(&b, "bubble: simulated %.4f, analytic %.4f = %s\n", tl.Bubble, s.AnalyticBubble(), Formula(s.Name))
	fmt.Fprintf(&b, "steady: period %g, bubble %.4f\n", tl.SteadyPeriod, tl.SteadyBubble)
	return b.String(), nil
}

// costOf is the cost model of simulate's arguments.
func costOf(args map[string]string) (func(Action) float64, error) {
	num := func(k string, def float64) (float64, error) {
		v, ok := args[k]
		if !ok {
			return def, nil
		}
		return strconv.ParseFloat(v, 64)
	}
	var k [4]float64 // F, B, I, W
	var err error
	if k[F], err = num("f", 1); err != nil {
		return nil, err
	}
	if k[B], err = num("b", 2); err != nil {
		return nil, err
	}
	if k[I], err = num("i", k[B]/2); err != nil {
		return nil, err
	}
	if k[W], err = num("w", k[B]/2); err != nil {
		return nil, err
	}
	var scale []float64
	if v, ok := args["scale"]; ok {
		for _, f := range strings.Split(v, ",") {
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("scale=%s: %v", v, err)
			}
			scale = append(scale, x)
		}
	}
	return func(a Action) float64 {
		if !a.Kind.IsCompute() {
			return 0
		}
		if a.Stage < len(scale) {
			return k[a.Kind] * scale[a.Stage]
		}
		return k[a.Kind]
	}, nil
}
