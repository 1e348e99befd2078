package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The machine is shared (builds and tests of other work may run beside a measurement), so
// every phase reports how much of the machine's CPU went to processes other than the load
// tool and the server under test, from /proc/stat and /proc/PID/stat.

// cpuSample is the machine's busy and total CPU time, and the CPU time of the processes of
// the run, in clock ticks.
type cpuSample struct{ busy, total, ours int64 }

func sampleCPU(pids ...int) cpuSample {
	var s cpuSample
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		for i, f := range strings.Fields(line)[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			if i >= 8 { // guest times are already counted in user and nice
				break
			}
			s.total += v
			if i != 3 && i != 4 { // idle, iowait
				s.busy += v
			}
		}
	}
	for _, pid := range append(pids, os.Getpid()) {
		s.ours += procTicks(pid)
	}
	return s
}

// procTicks is the user+system time of one process (utime and stime of /proc/PID/stat).
func procTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data)[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// otherLoad describes the share of the machine used by other processes between two samples.
func otherLoad(a, b cpuSample) string {
	total := b.total - a.total
	if total <= 0 {
		return ""
	}
	other := max(b.busy-a.busy-(b.ours-a.ours), 0)
	return fmt.Sprintf("; other processes %.0f%% CPU", 100*float64(other)/float64(total))
}

// ioSample is a process's I/O counters from /proc/PID/io: bytes passed to write calls
// (wchar), bytes sent to storage (write_bytes), and write calls (syscw).
type ioSample struct{ wchar, writeBytes, syscw int64 }

func sampleIO(pid int) ioSample {
	var s ioSample
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return s
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "wchar":
			s.wchar = n
		case "write_bytes":
			s.writeBytes = n
		case "syscw":
			s.syscw = n
		}
	}
	return s
}

// ioPerOp describes the server's writes per operation between two samples.
func ioPerOp(a, b ioSample, ops uint64) string {
	if ops == 0 || b.wchar == 0 {
		return ""
	}
	n := float64(ops)
	return fmt.Sprintf("; server writes %.1f KB/request (%.1f KB to storage, %.1f write calls)",
		float64(b.wchar-a.wchar)/1e3/n, float64(b.writeBytes-a.writeBytes)/1e3/n, float64(b.syscw-a.syscw)/n)
}
