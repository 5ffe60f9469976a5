// Command kvcounter counts HTTP requests per path in the key-value store:
// each request increments counter:<path> and answers {"counter":N}.
//
//	wisp build ./actors/kvcounter --cap wasmcloud:httpserver --cap wasmcloud:keyvalue
package main

import (
	"context"
	"strconv"

	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/keyvalue"
)

func init() {
	httpserver.Handle(func(ctx context.Context, r *httpserver.Request) (*httpserver.Response, error) {
		n, err := keyvalue.Increment(ctx, "counter:"+r.Path, 1)
		if err != nil {
			return httpserver.Text(500, err.Error()+"\n"), nil
		}
		return httpserver.JSON(200, []byte(`{"counter":`+strconv.Itoa(int(n))+"}\n")), nil
	})
}

func main() {}
