package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestProcMemoryReadsOwnProcess(t *testing.T) {
	rss, hwm, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d KiB, VmHWM %d KiB: want 0 < RSS <= HWM", rss, hwm)
	}
}

func TestRSSSamplerAttributesPeaksToPhases(t *testing.T) {
	s, err := startRSS(os.Getpid(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	s.setPhase("ingest")
	ballast := make([]byte, 32<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	s.setPhase("read")
	r := s.finish()
	_ = ballast[len(ballast)-1]

	if r.PID != os.Getpid() || r.Samples < 4 {
		t.Errorf("pid %d, %d samples; want own pid and at least 4 samples (one per phase change and one at the end)", r.PID, r.Samples)
	}
	var names []string
	for _, p := range r.Phases {
		names = append(names, p.Phase)
		if p.PeakKB <= 0 || p.PeakKB > r.PeakKB {
			t.Errorf("phase %s peak %d KiB, overall %d KiB", p.Phase, p.PeakKB, r.PeakKB)
		}
	}
	if len(names) != 3 || names[0] != "startup" || names[1] != "ingest" || names[2] != "read" {
		t.Errorf("phases %v, want [startup ingest read]", names)
	}
	// The ballast was touched during ingest and is sampled when ingest ends.
	if r.Phases[1].PeakKB < r.Phases[0].PeakKB+16<<10 {
		t.Errorf("ingest peak %d KiB is not 16 MiB above startup %d KiB", r.Phases[1].PeakKB, r.Phases[0].PeakKB)
	}
	if r.HWMKB < r.PeakKB {
		t.Errorf("VmHWM %d KiB below sampled peak %d KiB", r.HWMKB, r.PeakKB)
	}
	if r.Note != "" {
		t.Errorf("note %q", r.Note)
	}
}

func TestStartRSSFailsForAProcessThatIsGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	if _, err := startRSS(cmd.Process.Pid, time.Second); err == nil {
		t.Error("startRSS of an exited, reaped process succeeded")
	}
}
