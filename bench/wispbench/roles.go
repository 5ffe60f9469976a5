package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
)

// The processes of the equal-hops benchmark other than the orchestrator
// are this binary again, started with -role:
//
//	echo      a raw nats.go responder: subscribe, answer with the payload
//	http      a plain net/http server doing hello-http's work
//	load      NATS callers: request/reply for a while, print a loadResult
//	httpload  HTTP clients: GET for a while, print a loadResult
//
// Each runs in its own process and talks to the NATS server (or the HTTP
// server) over TCP, as the wisp host does.

// loadResult is what a load process prints as one JSON line.
type loadResult struct {
	Calls  int64   `json:"calls"`
	Total  int64   `json:"total"` // answered calls, the warm-up's included
	CPU    float64 `json:"-"`     // CPU µs per call of the answering process`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	Tput   float64 `json:"req_per_s"`
	Errors int64   `json:"errors"`
	Err    string  `json:"first_error,omitempty"`
}

func runRole(role string, args []string) error {
	fs := flag.NewFlagSet(role, flag.ExitOnError)
	natsURL := fs.String("url", "", "NATS server URL")
	creds := fs.String("creds", "", "NATS .creds file")
	subject := fs.String("subject", "", "subject to serve or call")
	op := fs.String("op", "Echo.Reply", "operation header of calls")
	size := fs.Int("size", 1024, "payload bytes")
	callers := fs.Int("callers", 1, "concurrent callers (HTTP: connections)")
	dur := fs.Duration("duration", 2*time.Second, "measured time")
	warm := fs.Duration("warmup", 300*time.Millisecond, "unmeasured time before it")
	listen := fs.String("listen", "127.0.0.1:0", "HTTP listen address")
	target := fs.String("target", "", "HTTP URL to GET")
	want := fs.String("want", "Hello, wisp!\n", "HTTP answer body every GET must get")
	fs.Parse(args)
	switch role {
	case "echo":
		return serveEcho(*natsURL, *creds, *subject)
	case "http":
		return serveHTTP(*listen)
	case "load":
		return report(natsLoad(*natsURL, *creds, *subject, *op, *size, *callers, *warm, *dur))
	case "httpload":
		return report(httpLoad(*target, *want, *callers, *warm, *dur))
	}
	return fmt.Errorf("unknown role %q", role)
}

func report(r loadResult, err error) error {
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func connectNATS(url, creds, name string) (*nats.Conn, error) {
	opts, err := lattice.Credentials{CredsFile: creds}.NATSOptions()
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, append(opts, nats.Name(name))...)
}

// untilSignal prints "ready ADDR" and waits for SIGINT/SIGTERM or stdin to
// close (the orchestrator gone).
func untilSignal(addr string) {
	fmt.Println("ready", addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { io.Copy(io.Discard, os.Stdin); sig <- syscall.SIGTERM }()
	<-sig
}

// serveEcho is the baseline: the plainest nats.go responder.
func serveEcho(url, creds, subject string) error {
	nc, err := connectNATS(url, creds, "wispbench raw echo")
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	untilSignal(subject)
	return nil
}

// fixedAnswer is the body of fixed_http.wat's one answer.
const fixedAnswer = "Hello, world!\n"

// serveHTTP is the HTTP baseline: hello-http's work in a plain handler,
// and on /fixed the fixed answer of fixed_http.wat.
func serveHTTP(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fixed := []byte(fixedAnswer)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fixed" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(fixed)
			return
		}
		name := "world"
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Get("name") != "" {
			name = q.Get("name")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Wisp-Path", r.URL.Path)
		io.WriteString(w, "Hello, "+name+"!\n")
	})}
	go srv.Serve(l)
	untilSignal(l.Addr().String())
	return srv.Close()
}

// closedLoop runs callers goroutines calling call back to back: warm
// unmeasured, then dur measured, and returns the measured latencies.
func closedLoop(callers int, warm, dur time.Duration, call func(i int) error) (loadResult, error) {
	var errs, total atomic.Int64
	var firstErr atomic.Value
	start := time.Now().Add(warm)
	stop := start.Add(dur)
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 4096)
			for {
				t := time.Now()
				if !t.Before(stop) {
					break
				}
				err := call(i)
				d := time.Since(t)
				if err == nil {
					total.Add(1)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if !t.Before(start) && t.Add(d).Before(stop) {
					l = append(l, d)
				}
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r := loadResult{Calls: int64(len(all)), Total: total.Load(), Errors: errs.Load()}
	if e, ok := firstErr.Load().(string); ok {
		r.Err = e
	}
	if len(all) == 0 {
		return r, fmt.Errorf("no call answered (%d errors, first: %s)", r.Errors, r.Err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	r.P50, r.P99 = us(all[(len(all)-1)*50/100]), us(all[(len(all)-1)*99/100])
	r.Tput = float64(len(all)) / dur.Seconds()
	return r, nil
}

// natsLoad calls subject with the same message whichever side answers
// (the operation header included, which the raw responder ignores), over
// one connection per 64 callers.
func natsLoad(url, creds, subject, op string, size, callers int, warm, dur time.Duration) (loadResult, error) {
	conns := make([]*nats.Conn, (callers+63)/64)
	for i := range conns {
		nc, err := connectNATS(url, creds, "wispbench load")
		if err != nil {
			return loadResult{}, err
		}
		defer nc.Close()
		conns[i] = nc
	}
	payload := bytes.Repeat([]byte("w"), size)
	return closedLoop(callers, warm, dur, func(i int) error {
		m := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{lattice.HeaderOperation: []string{op}}}
		r, err := conns[i%len(conns)].RequestMsg(m, 10*time.Second)
		if err != nil {
			return err
		}
		if e := r.Header.Get(lattice.HeaderError); e != "" {
			return errors.New(e)
		}
		if len(r.Data) != size {
			return fmt.Errorf("reply of %d bytes, want %d", len(r.Data), size)
		}
		return nil
	})
}

// httpLoad GETs target from conns clients, each on its own connection,
// and checks that each answer is 200 with body want.
func httpLoad(target, want string, conns int, warm, dur time.Duration) (loadResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	return closedLoop(conns, warm, dur, func(int) error {
		resp, err := client.Get(target)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			return fmt.Errorf("answer %d %q", resp.StatusCode, body)
		}
		return nil
	})
}

// readyLine waits for a child's "ready ADDR" line and returns ADDR.
func readyLine(r io.Reader, within time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			var addr string
			if _, err := fmt.Sscanf(s.Text(), "ready %s", &addr); err == nil {
				got <- addr
				io.Copy(io.Discard, r)
				return
			}
		}
		close(got)
	}()
	select {
	case a, ok := <-got:
		if !ok {
			return "", errors.New("exited before it was ready")
		}
		return a, nil
	case <-time.After(within):
		return "", errors.New("not ready in time")
	}
}
