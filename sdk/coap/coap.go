// Package coap is the actor side of wisp:coap: devices' CoAP requests
// arrive at the handler registered with Handle, and Request reaches a
// device.
//
//	func init() {
//		coap.Handle(func(ctx context.Context, r *coap.Request) (*coap.Response, error) {
//			return coap.Text(coap.Content, "21.5"), nil
//		})
//	}
package coap

import (
	"context"
	"time"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk"
	"github.com/wisp-dev/wisp/sdk/internal/query"
)

// Contract is the contract id.
const Contract = "wisp:coap"

// CoAP response codes (class*32 + detail).
const (
	Created    uint8 = 65  // 2.01
	Deleted    uint8 = 66  // 2.02
	Changed    uint8 = 68  // 2.04
	Content    uint8 = 69  // 2.05
	BadRequest uint8 = 128 // 4.00
	NotFound   uint8 = 132 // 4.04
	NotAllowed uint8 = 133 // 4.05
	Internal   uint8 = 160 // 5.00
)

// Content formats.
const (
	None      int32 = -1
	TextPlain int32 = 0
	JSON      int32 = 50
	CBOR      int32 = 60
)

// Request is a device's request, or a notification of a resource the
// gateway observes for a registered device (Method "NOTIFY").
type Request struct {
	Method        string // GET, POST, PUT, DELETE or NOTIFY
	Path          string
	Query         string
	ContentFormat int32 // None when absent
	Payload       []byte
	Source        string // the device's address
	Device        string // the name it registered under, if it did
}

// QueryValue returns the first value of name in the request's query,
// decoded as url.ParseQuery decodes it, or "". It saves an actor importing
// net/url, which brings fmt into its module.
func (r *Request) QueryValue(name string) string { return query.Get(r.Query, name) }

// Response answers a request.
type Response struct {
	Code          uint8
	ContentFormat int32
	Payload       []byte
}

// Text returns a text/plain response.
func Text(code uint8, s string) *Response {
	return &Response{Code: code, ContentFormat: TextPlain, Payload: []byte(s)}
}

// Handle registers fn for the requests devices send to the actor's link.
func Handle(fn func(ctx context.Context, r *Request) (*Response, error)) {
	sdk.Handle("Coap.HandleRequest", func(ctx context.Context, payload []byte) ([]byte, error) {
		r, err := decodeRequest(payload)
		if err != nil {
			return nil, wrap.Error("Coap.HandleRequest", err)
		}
		resp, err := fn(ctx, r)
		if err != nil {
			return nil, err
		}
		if resp == nil {
			resp = &Response{Code: Changed, ContentFormat: None}
		}
		return encodeResponse(resp), nil
	})
}

func decodeRequest(b []byte) (*Request, error) {
	r := &Request{ContentFormat: None}
	n, rest, err := msgpack.ReadMapHeader(b)
	if err != nil {
		return nil, err
	}
	for range n {
		var k string
		if k, rest, err = msgpack.ReadString(rest); err != nil {
			return nil, err
		}
		var v int64
		switch k {
		case "method":
			r.Method, rest, err = msgpack.ReadString(rest)
		case "path":
			r.Path, rest, err = msgpack.ReadString(rest)
		case "query":
			r.Query, rest, err = msgpack.ReadString(rest)
		case "source":
			r.Source, rest, err = msgpack.ReadString(rest)
		case "device":
			r.Device, rest, err = msgpack.ReadString(rest)
		case "contentFormat":
			v, rest, err = msgpack.ReadInt(rest)
			r.ContentFormat = int32(v)
		case "payload":
			var p []byte
			p, rest, err = msgpack.ReadBytes(rest)
			r.Payload = append([]byte(nil), p...)
		default:
			rest, err = msgpack.Skip(rest)
		}
		if err != nil {
			return nil, wrap.Error("field "+k, err)
		}
	}
	return r, nil
}

func encodeResponse(r *Response) []byte {
	b := msgpack.AppendMapHeader(nil, 3)
	b = msgpack.AppendString(b, "code")
	b = msgpack.AppendUint(b, uint64(r.Code))
	b = msgpack.AppendString(b, "contentFormat")
	b = msgpack.AppendInt(b, int64(r.ContentFormat))
	b = msgpack.AppendString(b, "payload")
	return msgpack.AppendBytes(b, r.Payload)
}

func decodeResponse(b []byte) (*Response, error) {
	r := &Response{ContentFormat: None}
	n, rest, err := msgpack.ReadMapHeader(b)
	if err != nil {
		return nil, err
	}
	for range n {
		var k string
		if k, rest, err = msgpack.ReadString(rest); err != nil {
			return nil, err
		}
		var v int64
		switch k {
		case "code":
			v, rest, err = msgpack.ReadInt(rest)
			r.Code = uint8(v)
		case "contentFormat":
			v, rest, err = msgpack.ReadInt(rest)
			r.ContentFormat = int32(v)
		case "payload":
			var p []byte
			p, rest, err = msgpack.ReadBytes(rest)
			r.Payload = append([]byte(nil), p...)
		default:
			rest, err = msgpack.Skip(rest)
		}
		if err != nil {
			return nil, wrap.Error("field "+k, err)
		}
	}
	return r, nil
}

// Send sends a request to a device at url (coap://host:port/path?query)
// through the link named link and returns the device's response.
func Send(ctx context.Context, link, method, url string, contentFormat int32, payload []byte, timeout time.Duration) (*Response, error) {
	b := msgpack.AppendMapHeader(nil, 5)
	b = msgpack.AppendString(b, "url")
	b = msgpack.AppendString(b, url)
	b = msgpack.AppendString(b, "method")
	b = msgpack.AppendString(b, method)
	b = msgpack.AppendString(b, "contentFormat")
	b = msgpack.AppendInt(b, int64(contentFormat))
	b = msgpack.AppendString(b, "payload")
	b = msgpack.AppendBytes(b, payload)
	b = msgpack.AppendString(b, "timeoutMs")
	b = msgpack.AppendUint(b, uint64(timeout/time.Millisecond))
	out, err := sdk.HostCall(ctx, link, Contract, "Coap.Request", b)
	if err != nil {
		return nil, wrap.Error("coap "+method+" "+url, err)
	}
	r, err := decodeResponse(out)
	if err != nil {
		return nil, wrap.Error("coap "+method+" "+url, err)
	}
	return r, nil
}

// Get reads a device's resource through the default link.
func Get(ctx context.Context, url string) (*Response, error) {
	return Send(ctx, "default", "GET", url, None, nil, 0)
}

// Post sends payload to a device's resource through the default link.
func Post(ctx context.Context, url string, contentFormat int32, payload []byte) (*Response, error) {
	return Send(ctx, "default", "POST", url, contentFormat, payload, 0)
}
