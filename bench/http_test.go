package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/httpserver"
)

// BenchmarkHTTP compares requests answered by the hello-http actor behind
// the httpserver provider (4 instances, provider and actor in one host, the
// in-process path) with a plain Go net/http handler doing the same work, on
// the same kind of loopback connection and client.
func BenchmarkHTTP(b *testing.B) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "world"
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Get("name") != "" {
			name = q.Get("name")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Wisp-Path", r.URL.Path)
		io.WriteString(w, "Hello, "+name+"!\n")
	}))
	defer plain.Close()

	e := providertest.New(b)
	actor := e.StartActor(b, testwasm.GoActor(b, "actors/hello-http"), "hello-http.wasm", 4)
	r := e.Run(b, "httpserver", true)
	l := provider.Link{Actor: actor, Contract: httpserver.Contract, Values: map[string]string{"address": "127.0.0.1:0"}}
	if err := r.PutLink(context.Background(), l); err != nil {
		b.Fatal(err)
	}
	addr, _ := r.Provider().(*httpserver.Provider).Address(l)

	for _, c := range []struct{ name, url string }{
		{"net-http", plain.URL},
		{"wisp-actor", "http://" + addr},
	} {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.SetParallelism(16) // 16 × GOMAXPROCS concurrent clients
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(c.url + "/bench?name=wisp")
					if err != nil {
						b.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "Hello, wisp!\n" {
						b.Error(fmt.Errorf("answer %d %q", resp.StatusCode, body))
						return
					}
				}
			})
		})
	}
}

// BenchmarkHTTPGuest measures what the hello-http actor costs per request on
// raw wazero (no host, no provider), with the request the provider encodes
// for a Go client's GET /hello?name=Ada (two headers), against the Go echo
// actor answering the same bytes: the difference is the guest's own work
// (decoding the request into maps, building and encoding the response).
func BenchmarkHTTPGuest(b *testing.B) {
	req := msgpack.AppendMapHeader(nil, 5)
	for _, kv := range [][2]string{{"method", "GET"}, {"path", "/hello"}, {"queryString", "name=Ada"}} {
		req = msgpack.AppendString(req, kv[0])
		req = msgpack.AppendString(req, kv[1])
	}
	req = msgpack.AppendString(req, "header")
	req = msgpack.AppendMapHeader(req, 2)
	for _, kv := range [][2]string{{"User-Agent", "Go-http-client/1.1"}, {"Accept-Encoding", "gzip"}} {
		req = msgpack.AppendString(req, kv[0])
		req = msgpack.AppendArrayHeader(req, 1)
		req = msgpack.AppendString(req, kv[1])
	}
	req = msgpack.AppendString(req, "body")
	req = msgpack.AppendBytes(req, nil)
	b.Run("hello-http", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig(), testwasm.GoActor(b, "actors/hello-http"), httpserver.Operation, req, false)
	})
	b.Run("echo-same-bytes", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig(), testwasm.GoActor(b, "actors/echo"), "Echo.Reply", req, false)
	})
}
