// Package httpserver is the actor side of wasmcloud:httpserver: the HTTP
// server provider turns each request on the actor's linked address into a
// call to the handler registered here.
//
//	func init() {
//		httpserver.Handle(func(ctx context.Context, r *httpserver.Request) (*httpserver.Response, error) {
//			return httpserver.Text(200, "hello "+r.Path), nil
//		})
//	}
package httpserver

import (
	"context"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk"
	"github.com/wisp-dev/wisp/sdk/internal/query"
)

// Contract is the contract id.
const Contract = "wasmcloud:httpserver"

// Operation is the operation the provider calls.
const Operation = "HttpServer.HandleRequest"

// Request is an HTTP request.
type Request struct {
	Method      string
	Path        string
	QueryString string
	Header      map[string][]string
	Body        []byte
}

// QueryValue returns the first value of name in the query string, decoded
// as url.ParseQuery decodes it, or "". It saves an actor importing net/url,
// which brings fmt into its module.
func (r *Request) QueryValue(name string) string { return query.Get(r.QueryString, name) }

// Response is the actor's answer.
type Response struct {
	StatusCode int
	Header     map[string][]string
	Body       []byte
}

// Text returns a text/plain response.
func Text(status int, body string) *Response {
	return &Response{StatusCode: status, Header: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte(body)}
}

// JSON returns an application/json response with body already encoded.
func JSON(status int, body []byte) *Response {
	return &Response{StatusCode: status, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body}
}

// Handle registers fn as the actor's HTTP handler.
func Handle(fn func(ctx context.Context, r *Request) (*Response, error)) {
	sdk.Handle(Operation, func(ctx context.Context, payload []byte) ([]byte, error) {
		r, err := DecodeRequest(payload)
		if err != nil {
			return nil, err
		}
		resp, err := fn(ctx, r)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			resp = &Response{StatusCode: 204}
		}
		return resp.Encode(), nil
	})
}

// DecodeRequest decodes the provider's HttpRequest. The request's strings
// and body share b's memory (Handle gives it a payload of its own).
func DecodeRequest(b []byte) (*Request, error) {
	r := &Request{}
	n, rest, err := msgpack.ReadMapHeader(b)
	if err != nil {
		return nil, wrap.Error(Operation, err)
	}
	for range n {
		var k string
		if k, rest, err = msgpack.ReadStringView(rest); err != nil {
			return nil, wrap.Error(Operation, err)
		}
		switch k {
		case "method":
			r.Method, rest, err = msgpack.ReadStringView(rest)
		case "path":
			r.Path, rest, err = msgpack.ReadStringView(rest)
		case "queryString":
			r.QueryString, rest, err = msgpack.ReadStringView(rest)
		case "header":
			r.Header, rest, err = msgpack.ReadStringsMap(rest)
		case "body":
			r.Body, rest, err = msgpack.ReadBytes(rest)
		default:
			rest, err = msgpack.Skip(rest)
		}
		if err != nil {
			return nil, wrap.Error(Operation+": field "+k, err)
		}
	}
	return r, nil
}

// Encode encodes the response as the provider expects it.
func (r *Response) Encode() []byte {
	// One pass over the header: a Go guest pays ~0.4 µs per map walk, more
	// than an append that outgrows the estimate once.
	b := msgpack.AppendMapHeader(make([]byte, 0, 48+len(r.Body)+64*len(r.Header)), 3)
	b = msgpack.AppendString(b, "statusCode")
	b = msgpack.AppendUint(b, uint64(r.StatusCode))
	b = msgpack.AppendString(b, "header")
	b = msgpack.AppendMapHeader(b, len(r.Header))
	for k, vals := range r.Header {
		b = msgpack.AppendString(b, k)
		b = msgpack.AppendArrayHeader(b, len(vals))
		for _, v := range vals {
			b = msgpack.AppendString(b, v)
		}
	}
	b = msgpack.AppendString(b, "body")
	return msgpack.AppendBytes(b, r.Body)
}
