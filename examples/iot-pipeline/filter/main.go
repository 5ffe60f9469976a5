// Command filter runs at the edge, on a gateway host next to the
// microcontrollers. Each reading a device notifies (an observed CoAP
// resource, such as a simulated MCU's /temp) is checked, folded into a
// window per device and resource, and every Window readings one summary goes
// up to the cloud over wasmcloud:messaging on the subject iot.readings:
//
//	{"sensor":"kitchen/temp","count":5,"min":20.8,"max":21.3,"avg":21.04,"last":21.1,"dropped":0}
//
// Readings that are not numbers, or outside what the sensor can measure,
// are dropped and counted. The window lives in the instance's memory, so the
// manifest runs one instance per gateway.
//
//	wisp build ./examples/iot-pipeline/filter --cap wisp:coap --cap wasmcloud:messaging
package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/messaging"
)

// Window is how many readings make one summary.
const Window = 5

// Subject is where summaries go.
const Subject = "iot.readings"

// The range a consumer-grade temperature sensor measures; anything else is
// a faulty read.
const lowest, highest = -40.0, 125.0

type window struct {
	count, dropped  int
	min, max, total float64
	last            float64
}

var windows = map[string]*window{}

func init() {
	coap.Handle(func(ctx context.Context, r *coap.Request) (*coap.Response, error) {
		if r.Method != "NOTIFY" {
			return coap.Text(coap.NotFound, "this actor takes device notifications only"), nil
		}
		sensor := r.Device + r.Path
		w := windows[sensor]
		if w == nil {
			w = &window{}
			windows[sensor] = w
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(r.Payload)), 64)
		if err != nil || v < lowest || v > highest {
			w.dropped++
			return nil, nil
		}
		if w.count == 0 || v < w.min {
			w.min = v
		}
		if w.count == 0 || v > w.max {
			w.max = v
		}
		w.count++
		w.total += v
		w.last = v
		if w.count < Window {
			return nil, nil
		}
		summary := `{"sensor":` + strconv.Quote(sensor) +
			`,"count":` + strconv.Itoa(w.count) +
			`,"min":` + num(w.min) + `,"max":` + num(w.max) +
			`,"avg":` + num(w.total/float64(w.count)) + `,"last":` + num(w.last) +
			`,"dropped":` + strconv.Itoa(w.dropped) + `}`
		*w = window{}
		return nil, messaging.Publish(ctx, Subject, "", []byte(summary))
	})
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func main() {}
