// Command hello-http answers HTTP requests through the httpserver provider:
// GET /any/path?name=Ada says hello to Ada, a POST says hello to its body.
//
//	wisp build ./actors/hello-http --cap wasmcloud:httpserver
package main

import (
	"context"
	"strings"

	"github.com/wisp-dev/wisp/sdk/httpserver"
)

func init() {
	httpserver.Handle(func(_ context.Context, r *httpserver.Request) (*httpserver.Response, error) {
		name := "world"
		if q := r.QueryValue("name"); q != "" {
			name = q
		}
		if r.Method == "POST" && len(r.Body) > 0 {
			name = strings.TrimSpace(string(r.Body))
		}
		resp := httpserver.Text(200, "Hello, "+name+"!\n")
		resp.Header["X-Wisp-Path"] = []string{r.Path}
		return resp, nil
	})
}

func main() {}
