package bench

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseProcStatOddCommandName(t *testing.T) {
	line := "4242 (we ird) (name) S 17 4242 4242 0 -1 4194304 100 0 0 0 250 30 7 3 20 0 1 0 100 1000 50\n"
	stat, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatalf("parseProcStat: %v", err)
	}
	if stat.ppid != 17 {
		t.Errorf("ppid = %d, want 17", stat.ppid)
	}
	if stat.utime != 250 || stat.stime != 30 || stat.cutime != 7 || stat.cstime != 3 {
		t.Errorf("times = %d %d %d %d, want 250 30 7 3", stat.utime, stat.stime, stat.cutime, stat.cstime)
	}
}

func TestParseProcStatTruncated(t *testing.T) {
	if _, err := parseProcStat([]byte("1 (init) S 0 1")); err == nil {
		t.Error("parseProcStat accepted a truncated line")
	}
}

func TestSampleProcessTreeIncludesChild(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})

	sample, err := sampleProcessTree(os.Getpid())
	if err != nil {
		t.Fatalf("sampleProcessTree: %v", err)
	}
	if sample.Processes < 2 {
		t.Errorf("processes = %d, want at least 2 (this one and its child)", sample.Processes)
	}
	if sample.RSS == 0 {
		t.Error("RSS = 0, want the resident memory of the tree")
	}
	if sample.PSS == 0 {
		t.Error("PSS = 0, want the proportional memory of the tree")
	}
}

func TestSampleProcessTreeMissingPID(t *testing.T) {
	// PIDs above pid_max (at most 2^22 on Linux) never exist.
	if _, err := sampleProcessTree(1 << 23); err == nil {
		t.Error("sampleProcessTree accepted a pid that cannot exist")
	}
}
