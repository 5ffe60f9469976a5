// Command coap-sensor keeps the latest reading of each device and drives
// devices by name:
//
//   - POST (or PUT) /sensors/<name> over CoAP stores a reading in the
//     key-value store; GET /sensors/<name> reads it back; DELETE forgets it.
//
//   - Notifications from devices registered with the gateway (their
//     observable resources) are stored as /sensors/<device>/<resource>.
//
//   - GET /devices/<device>/led?set=on|off switches a registered device's
//     LED through the provider (Coap.Request to coap://<device>/led).
//
//   - GET /relay?url=coap://host:port/res reads any device's resource.
//
//     wisp build ./actors/coap-sensor --cap wisp:coap --cap wasmcloud:keyvalue
package main

import (
	"context"
	"strings"

	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/keyvalue"
)

func init() {
	coap.Handle(func(ctx context.Context, r *coap.Request) (*coap.Response, error) {
		if r.Method == "NOTIFY" {
			return nil, keyvalue.Set(ctx, "sensor:"+r.Device+r.Path, string(r.Payload), 0)
		}
		if r.Path == "/relay" && r.Method == "GET" {
			resp, err := coap.Get(ctx, r.QueryValue("url"))
			if err != nil {
				return coap.Text(coap.Internal, err.Error()), nil
			}
			return resp, nil
		}
		if device, ok := strings.CutPrefix(r.Path, "/devices/"); ok && strings.HasSuffix(device, "/led") {
			device = strings.TrimSuffix(device, "/led")
			if set := r.QueryValue("set"); set != "" {
				return coap.Send(ctx, "default", "PUT", "coap://"+device+"/led", coap.TextPlain, []byte(set), 0)
			}
			return coap.Get(ctx, "coap://"+device+"/led")
		}
		name, ok := strings.CutPrefix(r.Path, "/sensors/")
		if !ok || name == "" {
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
