// Command coap-sensor keeps the latest reading of each device: a device
// POSTs (or PUTs) a reading to /sensors/<name> over CoAP and the actor
// stores it in the key-value store; a GET of /sensors/<name> reads it back.
// GET /relay?url=coap://device/res reads a resource of a device through
// the provider (Coap.Request) and answers with it.
//
//	wisp build ./actors/coap-sensor --cap wisp:coap --cap wasmcloud:keyvalue
package main

import (
	"context"
	"net/url"
	"strings"

	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/keyvalue"
)

func init() {
	coap.Handle(func(ctx context.Context, r *coap.Request) (*coap.Response, error) {
		if r.Path == "/relay" && r.Method == "GET" {
			q, _ := url.ParseQuery(r.Query)
			resp, err := coap.Get(ctx, q.Get("url"))
			if err != nil {
				return coap.Text(coap.Internal, err.Error()), nil
			}
			return resp, nil
		}
		name, ok := strings.CutPrefix(r.Path, "/sensors/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return coap.Text(coap.NotFound, "no such resource: "+r.Path), nil
		}
		key := "sensor:" + name
		switch r.Method {
		case "POST", "PUT":
			if err := keyvalue.Set(ctx, key, string(r.Payload), 0); err != nil {
				return nil, err
			}
			return &coap.Response{Code: coap.Changed, ContentFormat: coap.None}, nil
		case "GET":
			v, found, err := keyvalue.Get(ctx, key)
			if err != nil {
				return nil, err
			}
			if !found {
				return coap.Text(coap.NotFound, "no reading from "+name+" yet"), nil
			}
			return coap.Text(coap.Content, v), nil
		case "DELETE":
			if _, err := keyvalue.Del(ctx, key); err != nil {
				return nil, err
			}
			return &coap.Response{Code: coap.Deleted, ContentFormat: coap.None}, nil
		}
		return coap.Text(coap.NotAllowed, r.Method+" is not allowed"), nil
	})
}

func main() {}
