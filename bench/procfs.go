package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux fixes
// USER_HZ at 100 on every architecture that Go supports.
const userHZ = 100

// procSample is the resource use of a process and all its descendants.
type procSample struct {
	Time      time.Time
	Processes int
	RSS       uint64        // bytes, sum of VmRSS; pages shared between processes count once per process
	PSS       uint64        // bytes, sum of Pss from smaps_rollup; 0 when unreadable
	CPU       time.Duration // user plus system time, including reaped children
}

// sampleProcessTree measures the process pid and its descendants, found
// through the parent ids in /proc/*/stat.
func sampleProcessTree(pid int) (procSample, error) {
	sample := procSample{Time: time.Now()}
	stats, err := readAllStats()
	if err != nil {
		return sample, err
	}
	if _, ok := stats[pid]; !ok {
		return sample, fmt.Errorf("bench: sample process %d: not found in /proc", pid)
	}

	children := map[int][]int{}
	for child, stat := range stats {
		children[stat.ppid] = append(children[stat.ppid], child)
	}
	queue := []int{pid}
	for len(queue) > 0 {
		current := queue[0]
		queue = queue[1:]
		queue = append(queue, children[current]...)

		stat := stats[current]
		sample.Processes++
		// A live process's cutime and cstime cover only children it has
		// reaped, which are no longer in the tree, so nothing counts twice.
		sample.CPU += time.Duration(stat.utime+stat.stime+stat.cutime+stat.cstime) * time.Second / userHZ
		if rss, err := readStatusKB(current, "VmRSS:"); err == nil {
			sample.RSS += rss * 1024
		}
		if pss, err := readSmapsRollupKB(current, "Pss:"); err == nil {
			sample.PSS += pss * 1024
		}
	}
	return sample, nil
}

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

// readAllStats reads /proc/*/stat of every process. Processes that exit
// during the scan are skipped.
func readAllStats() (map[int]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("bench: list processes: %w", err)
	}
	stats := make(map[int]procStat, len(entries))
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + entry.Name() + "/stat")
		if err != nil {
			continue
		}
		stat, err := parseProcStat(data)
		if err != nil {
			return nil, fmt.Errorf("bench: read /proc/%d/stat: %w", pid, err)
		}
		stats[pid] = stat
	}
	return stats, nil
}

// parseProcStat reads the fields of proc(5) /proc/PID/stat that come after
// the command name, which is in parentheses and may itself contain spaces
// and parentheses.
func parseProcStat(data []byte) (procStat, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, errors.New("no command name")
	}
	// fields[0] is field 3 (state) of proc(5).
	fields := bytes.Fields(data[end+1:])
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least 15", len(fields))
	}
	number := func(field int) (uint64, error) {
		return strconv.ParseUint(string(fields[field-3]), 10, 64)
	}
	var stat procStat
	ppid, err := number(4)
	if err != nil {
		return procStat{}, fmt.Errorf("ppid: %w", err)
	}
	stat.ppid = int(ppid)
	for field, target := range map[int]*uint64{14: &stat.utime, 15: &stat.stime, 16: &stat.cutime, 17: &stat.cstime} {
		if *target, err = number(field); err != nil {
			return procStat{}, fmt.Errorf("field %d: %w", field, err)
		}
	}
	return stat, nil
}

func readStatusKB(pid int, key string) (uint64, error) {
	return readKBField("/proc/"+strconv.Itoa(pid)+"/status", key)
}

func readSmapsRollupKB(pid int, key string) (uint64, error) {
	return readKBField("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", key)
}

// readKBField returns the value of a "Key:   123 kB" line of a proc file.
func readKBField(path, key string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: read %s: %w", path, err)
	}
	for line := range bytes.Lines(data) {
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		fields := bytes.Fields(line[len(key):])
		if len(fields) == 0 {
			break
		}
		value, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: read %s: %s: %w", path, key, err)
		}
		return value, nil
	}
	return 0, fmt.Errorf("bench: read %s: no %s line", path, key)
}
