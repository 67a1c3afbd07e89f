// Command init is PID 1 inside the Bochs AVX-512 guest: it runs /bin/test and powers off.
//
// The harness (scripts/avx512-emu.sh) packs this program, the binary under test, /args and
// /env into an initramfs. Everything the test prints goes to the serial console, framed by
// marker lines so the harness can cut the kernel's own messages away and read the status.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Markers the harness greps for; keep in sync with scripts/avx512-emu.sh.
const (
	beginMarker = "AVX512EMU-BEGIN"
	exitMarker  = "AVX512EMU-EXIT"
)

func main() {
	mountAll()
	console()
	code := run()
	// A leading newline ends any partial last line of the test, so the marker is alone on
	// its line and the harness can match it exactly.
	fmt.Printf("\n%s %d\n", exitMarker, code)
	drain()
	syscall.Sync()
	// Bochs quits on an ACPI soft power-off; if it does not, the harness kills it once it
	// has seen the marker. Either way PID 1 must never return (that panics the kernel).
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// mountAll gives the test what a normal Linux has: Go's runtime and os package read /proc
// and /sys (CPU count, huge pages), and t.TempDir needs a writable /tmp.
func mountAll() {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := syscall.Mount(m.src, m.dir, m.fs, 0, ""); err != nil {
			fmt.Fprintf(os.Stderr, "init: mount %s: %v\n", m.dir, err)
		}
	}
}

// console reopens fds 0-2 on /dev/console: whether the kernel opened them for PID 1 depends
// on /dev/console existing in the initramfs, which this one does not ship (making a device
// node would need root on the host).
func console() {
	f, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return
	}
	for fd := 0; fd < 3; fd++ {
		_ = syscall.Dup2(int(f.Fd()), fd)
	}
}

const tcsbrk = 0x5409

// drain waits until the serial port has sent everything written to the console: the tty
// buffers output and the UART sends it at 115200 baud, so powering off at once would cut
// off the test's last lines and the marker.
func drain() {
	// TCSBRK (0x5409, absent from package syscall) with a non-zero argument is tcdrain(3).
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, 1, tcsbrk, 1)
}

// run starts /bin/test with /args and /env and returns its exit status the way a shell
// reports it (128+signal when killed), 125 when it could not start.
func run() int {
	args, err := lines("/args")
	if err != nil {
		fmt.Printf("init: %v\n", err)
		return 125
	}
	env, err := lines("/env")
	if err != nil {
		fmt.Printf("init: %v\n", err)
		return 125
	}
	cmd := exec.Command("/bin/test", args...)
	cmd.Env = append([]string{"PATH=/bin", "HOME=/tmp", "TMPDIR=/tmp"}, env...)
	cmd.Dir = "/tmp"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	fmt.Println(beginMarker)
	err = cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Printf("init: start /bin/test: %v\n", err)
		return 125
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		fmt.Printf("init: /bin/test killed by %v\n", ws.Signal())
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// lines reads one argument per line; a missing file means none.
func lines(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if t := strings.TrimSuffix(s.Text(), "\r"); t != "" {
			out = append(out, t)
		}
	}
	return out, s.Err()
}
