package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// procMemory reads VmRSS and VmHWM (in KiB) from /proc/PID/status.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	found := 0
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &hwm
		default:
			continue
		}
		f := bytes.Fields(line) // "VmRSS:", "12345", "kB"
		if len(f) < 2 {
			return 0, 0, fmt.Errorf("/proc/%d/status: malformed %q", pid, line)
		}
		if *dst, err = strconv.ParseInt(string(f[1]), 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM (a kernel thread or a zombie?)", pid)
	}
	return rss, hwm, nil
}

// rssSampler samples a process's resident set every interval and keeps the
// peak per phase and overall.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	phase   string
	order   []string
	peaks   map[string]int64
	peak    int64
	hwm     int64
	samples int
	lost    error // why sampling ended early, if it did
}

// startRSS starts sampling pid; the first read must succeed.
func startRSS(pid int, every time.Duration) (*rssSampler, error) {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}), peaks: map[string]int64{}}
	s.setPhase("startup")
	if s.lost != nil {
		return nil, fmt.Errorf("sample RSS of pid %d: %w", pid, s.lost)
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.sampleLocked()
				lost := s.lost != nil
				s.mu.Unlock()
				if lost {
					return
				}
			}
		}
	}()
	return s, nil
}

func (s *rssSampler) sampleLocked() {
	if s.lost != nil {
		return
	}
	rss, hwm, err := procMemory(s.pid)
	if err != nil {
		s.lost = err
		return
	}
	s.samples++
	s.peak = max(s.peak, rss)
	s.hwm = max(s.hwm, hwm)
	s.peaks[s.phase] = max(s.peaks[s.phase], rss)
}

// setPhase takes a sample for the phase that ends, then attributes later
// samples to name.
func (s *rssSampler) setPhase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != "" {
		s.sampleLocked()
	}
	s.phase = name
	if _, ok := s.peaks[name]; !ok {
		s.order = append(s.order, name)
	}
	s.sampleLocked()
}

type phasePeak struct {
	Phase  string `json:"phase"`
	PeakKB int64  `json:"peak_rss_kib"`
}

type rssResult struct {
	PID     int         `json:"pid"`
	Phases  []phasePeak `json:"phases"`
	PeakKB  int64       `json:"peak_rss_kib"`
	HWMKB   int64       `json:"vm_hwm_kib"` // the kernel's own high-water mark, since the process started
	Samples int         `json:"samples"`
	Note    string      `json:"note,omitempty"`
}

// finish takes a last sample, stops the sampler and returns the peaks.
func (s *rssSampler) finish() *rssResult {
	s.mu.Lock()
	s.sampleLocked()
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &rssResult{PID: s.pid, PeakKB: s.peak, HWMKB: s.hwm, Samples: s.samples}
	for _, p := range s.order {
		r.Phases = append(r.Phases, phasePeak{Phase: p, PeakKB: s.peaks[p]})
	}
	if s.lost != nil {
		r.Note = "sampling stopped early: " + s.lost.Error()
	}
	return r
}
