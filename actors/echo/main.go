// Command echo is the first wisp actor: Echo.Reply answers with its payload.
package main

import (
	"context"

	"github.com/wisp-dev/wisp/sdk"
)

func init() {
	sdk.Handle("Echo.Reply", func(_ context.Context, payload []byte) ([]byte, error) {
		return payload, nil
	})
}

func main() {}
