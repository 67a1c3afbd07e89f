//go:build unix

// metrics.jsonl on a full disk (a file-size limit in a child process): a line that does not fit is cut back, leaving only whole lines.

package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// metricsFullEnv tells the test binary, run again as a child, to log into
// the directory it names until a file-size limit stops a line partway.
const metricsFullEnv = "BATON_TEST_METRICS_FULL_DIR"

func TestMetricsFullDiskHelper(t *testing.T) {
	dir := os.Getenv(metricsFullEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestMetricsFullDiskKeepsWholeLines")
	}
	log, _, err := openMetrics(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.close()
	if err := log.write(Metric{Step: 1, Loss: 5.5, Idle: []Share{0.25}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	// Ignored, SIGXFSZ no longer kills the process: the write fails with EFBIG.
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(fi.Size()) + 20 // room for the start of the next line only
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	err = log.write(Metric{Step: 2, Loss: 5.25, Idle: []Share{0.25}})
	fmt.Printf("write error: %v\n", err)
}

// TestMetricsFullDiskKeepsWholeLines: a line the disk takes only part of
// fails the write, naming the file, and is cut back, so that the log ends
// with its last whole line.
func TestMetricsFullDiskKeepsWholeLines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMetricsFullDiskHelper$")
	cmd.Env = append(os.Environ(), metricsFullEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	path := filepath.Join(dir, MetricsFile)
	if want := "write error: write " + path + ": file too large\n"; !strings.Contains(string(out), want) {
		t.Fatalf("child said\n%s\nwant %q", out, want)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"step":1,"loss":5.5,"lr":0,"grad_norm":0,"tokens_per_s":0,"step_s":0,"idle":[0.25]}` + "\n"; string(raw) != want {
		t.Fatalf("metrics.jsonl holds %q, want only the whole first line %q", raw, want)
	}
}
