package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memWatch samples the live heap of this process (the scanning side; the
// AWS server is another process) and reads the kernel's peak RSS.
type memWatch struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	peakHeap uint64
	before   runtime.MemStats
	gc       gcStats
}

// gcStats is what runtime.MemStats says about one measured run.
type gcStats struct {
	cycles             uint32
	pause              time.Duration
	allocated, objects uint64
	heapSys, totalSys  uint64
	gcCPU              float64
}

func (g gcStats) String() string {
	return fmt.Sprintf("%d GC cycles (%s paused, %.0f%% of CPU since start), %.0f MiB allocated in %.1fM objects; heap from the OS %.0f MiB, all runtime memory %.0f MiB",
		g.cycles, g.pause.Round(time.Millisecond), g.gcCPU*100, float64(g.allocated)/(1<<20), float64(g.objects)/1e6,
		float64(g.heapSys)/(1<<20), float64(g.totalSys)/(1<<20))
}

// startMem collects garbage, resets the kernel's RSS high-water mark
// (/proc/self/clear_refs, Linux) and samples the heap every 20ms.
func startMem() *memWatch {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m := &memWatch{stop: make(chan struct{})}
	runtime.ReadMemStats(&m.before)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			m.peakHeap = max(m.peakHeap, s[0].Value.Uint64())
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// done returns the peak live heap and the peak RSS (VmHWM; 0 when unknown).
func (m *memWatch) done() (heap, rss uint64) {
	close(m.stop)
	m.wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	m.gc = gcStats{cycles: after.NumGC - m.before.NumGC, pause: time.Duration(after.PauseTotalNs - m.before.PauseTotalNs),
		allocated: after.TotalAlloc - m.before.TotalAlloc, objects: after.Mallocs - m.before.Mallocs,
		heapSys: after.HeapSys, totalSys: after.Sys, gcCPU: after.GCCPUFraction}
	return m.peakHeap, vmHWM()
}

func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
