package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the run happened, for BENCHMARKS.md.
type machine struct {
	NumCPU    int    `json:"nproc"`
	CPU       string `json:"cpu,omitempty"`
	MemTotal  string `json:"mem_total,omitempty"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel,omitempty"`
	Distro    string `json:"distro,omitempty"`
	GoVersion string `json:"go_version"`
}

func describeMachine() machine {
	m := machine{
		NumCPU:    runtime.NumCPU(), // the CPUs this process may use, as nproc counts them
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(),
		CPU:       procField("/proc/cpuinfo", "model name", ":"),
		MemTotal:  memTotal(),
		Distro:    strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key<sep>value" line of a file.
func procField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// memTotal returns MemTotal from /proc/meminfo in GiB.
func memTotal() string {
	f := strings.Fields(procField("/proc/meminfo", "MemTotal", ":")) // "24684084", "kB"
	if len(f) != 2 || f[1] != "kB" {
		return ""
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
}
