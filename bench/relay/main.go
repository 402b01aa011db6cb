// zipflow-relay gives every TCP connection between a client and one upstream server an S3-like
// path: a one-way delay in each direction and a bandwidth cap in each direction, per
// connection, as a client far from a store sees over the internet. It never changes, drops or
// reorders a byte.
//
//	zipflow-relay -upstream 127.0.0.1:9000 -delay 25ms -rate 25000000
//
// It prints one JSON line on stdout once listening, {"listen":"host:port","stats":"host:port"},
// and serves its counters as JSON at http://<stats>/stats (?reset=1 also restarts the peak of
// open connections from the number open now).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// readSize is the most read from a socket at once: a chunk is delivered whole at its due time,
// so it also bounds the burst a capped connection sends (128 KiB at 25 MB/s is 5 ms).
const readSize = 128 << 10

type shape struct {
	delay time.Duration
	// Bytes per second in each direction of each connection; 0 for no cap.
	upRate, downRate float64
}

type counters struct {
	connections atomic.Int64
	open        atomic.Int64
	peakOpen    atomic.Int64
	up, down    atomic.Int64
}

func (c *counters) opened() {
	n := c.open.Add(1)
	for {
		p := c.peakOpen.Load()
		if n <= p || c.peakOpen.CompareAndSwap(p, n) {
			return
		}
	}
}

var pool = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

type chunk struct {
	buf *[]byte
	n   int
	due time.Time
}

// window holds what a direction has read and not yet delivered, up to a byte limit: past it
// the relay stops reading, so the sender is held back by TCP as by a full path.
type window struct {
	mu     sync.Mutex
	cond   *sync.Cond
	held   int
	limit  int
	closed bool
}

func newWindow(limit int) *window {
	w := &window{limit: limit}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *window) take(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.held > 0 && w.held+n > w.limit && !w.closed {
		w.cond.Wait()
	}
	w.held += n
	return !w.closed
}

func (w *window) give(n int) {
	w.mu.Lock()
	w.held -= n
	w.mu.Unlock()
	w.cond.Broadcast()
}

func (w *window) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cond.Broadcast()
}

// limitFor is the window of one direction: at least twice the bytes a capped path holds in
// flight (rate × delay), so the cap and not the window sets the rate.
func limitFor(rate float64, delay time.Duration) int {
	if rate == 0 {
		return 64 << 20
	}
	return max(4<<20, int(2*rate*delay.Seconds()))
}

// pipe moves src's bytes to dst, each chunk delivered `delay` after the link has carried it at
// `rate`. It half-closes dst when src ends and calls fail on any error.
func pipe(src, dst *net.TCPConn, delay time.Duration, rate float64, count *atomic.Int64, fail func()) {
	w := newWindow(limitFor(rate, delay))
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		// When the link is next free to carry a byte.
		var free time.Time
		for {
			buf := pool.Get().(*[]byte)
			n, err := src.Read(*buf)
			if n > 0 {
				if !w.take(n) {
					return
				}
				now := time.Now()
				sent := now
				if rate > 0 {
					if free.After(now) {
						sent = free
					}
					sent = sent.Add(time.Duration(float64(n) / rate * float64(time.Second)))
					free = sent
				}
				queue <- chunk{buf, n, sent.Add(delay)}
			} else {
				pool.Put(buf)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fail()
				}
				return
			}
		}
	}()
	ok := true
	for c := range queue {
		if ok {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write((*c.buf)[:c.n]); err != nil {
				ok = false
				fail()
				w.close()
			} else {
				count.Add(int64(c.n))
			}
		}
		w.give(c.n)
		pool.Put(c.buf)
	}
	if ok {
		_ = dst.CloseWrite()
	}
}

func relay(client *net.TCPConn, upstream string, s shape, c *counters) {
	c.connections.Add(1)
	c.opened()
	defer c.open.Add(-1)
	conn, err := net.Dial("tcp", upstream)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zipflow-relay: %v\n", err)
		_ = client.Close()
		return
	}
	server := conn.(*net.TCPConn)
	var once sync.Once
	fail := func() {
		once.Do(func() {
			_ = client.Close()
			_ = server.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(client, server, s.delay, s.upRate, &c.up, fail) }()
	go func() { defer wg.Done(); pipe(server, client, s.delay, s.downRate, &c.down, fail) }()
	wg.Wait()
	_ = client.Close()
	_ = server.Close()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to accept clients on")
	statsAddr := flag.String("stats", "127.0.0.1:0", "address of the JSON counters")
	upstream := flag.String("upstream", "", "host:port every connection is relayed to")
	delay := flag.Duration("delay", 0, "one-way delay added in each direction")
	rate := flag.Float64("rate", 0, "bytes per second per connection in each direction (0: no cap)")
	upRate := flag.Float64("up-rate", -1, "client-to-upstream cap, bytes/s (default: -rate)")
	downRate := flag.Float64("down-rate", -1, "upstream-to-client cap, bytes/s (default: -rate)")
	flag.Parse()
	if *upstream == "" || *delay < 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "zipflow-relay: -upstream is required; -delay and -rate must not be negative")
		os.Exit(2)
	}
	s := shape{delay: *delay, upRate: *rate, downRate: *rate}
	if *upRate >= 0 {
		s.upRate = *upRate
	}
	if *downRate >= 0 {
		s.downRate = *downRate
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zipflow-relay: %v\n", err)
		os.Exit(1)
	}
	statsLn, err := net.Listen("tcp", *statsAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "zipflow-relay: %v\n", err)
		os.Exit(1)
	}
	c := &counters{}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]int64{
			"connections": c.connections.Load(),
			"open":        c.open.Load(),
			"peakOpen":    c.peakOpen.Load(),
			"up":          c.up.Load(),
			"down":        c.down.Load(),
		}
		if r.URL.Query().Get("reset") == "1" {
			c.peakOpen.Store(c.open.Load())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	go func() { _ = http.Serve(statsLn, mux) }()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{
		"listen": ln.Addr().String(),
		"stats":  statsLn.Addr().String(),
	})
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "zipflow-relay: %v\n", err)
			os.Exit(1)
		}
		go relay(conn.(*net.TCPConn), *upstream, s, c)
	}
}
