// Package chunked carries call and reply bodies larger than the NATS
// server's max_payload between a caller and a responder, in chunks sent as
// ordinary NATS messages between the two of them: nothing is stored on the
// way, so a transfer that breaks off leaves nothing behind.
//
// A body at or below Limit (256 KiB, or less on a server whose max_payload
// is smaller) travels whole, as it always has. Above it:
//
//   - Request body (caller → responder). The caller subscribes to a fresh
//     inbox R and publishes the call with an empty body, reply subject R and
//     the headers Wisp-Body-Size (bytes) and Wisp-Chunk-Size. The responder
//     pulls chunk i by a request to R with the header Wisp-Chunk-Pull: i;
//     the caller answers it with the chunk's bytes. The responder pulls only
//     from the call's own reply subject, so a caller cannot make it pull from
//     anyone else's inbox.
//   - Reply body (responder → caller). Only a caller that sent
//     Wisp-Accept-Chunks gets one; others get the body whole up to the
//     server's limit and an error above it. The responder sends a
//     head to the call's reply subject: no body, Wisp-Body-Size and
//     Wisp-Chunk-Size, and a reply subject H of its own. The caller answers H
//     with Wisp-Body-To: X, a fresh inbox of its own, and the responder pushes
//     chunk i to X (header Wisp-Chunk: i, reply subject H.i); the caller
//     acknowledges each with an empty answer.
//
// At most Window chunks of one transfer are unanswered at a time, so a
// transfer never holds more than Window chunks in the server's buffers. A
// side that waits longer than the chunk timeout for the next chunk gives up
// with ErrLost; a side whose peer's inbox is gone (NATS's no-responders
// status) gives up at once with ErrGone. Either way the partial body is
// garbage for the Go collector and nothing remains on the server.
package chunked

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Headers of the protocol.
const (
	// HeaderBodySize on a call or a reply head: the body has this many
	// bytes and comes in chunks.
	HeaderBodySize = "Wisp-Body-Size"
	// HeaderChunkSize next to HeaderBodySize: every chunk but the last
	// has this many bytes.
	HeaderChunkSize = "Wisp-Chunk-Size"
	// HeaderPull on a request from the responder to the caller: send
	// chunk i of the call's body.
	HeaderPull = "Wisp-Chunk-Pull"
	// HeaderChunk on a pushed chunk of a reply: its index.
	HeaderChunk = "Wisp-Chunk"
	// HeaderAccept on a call: the caller takes a chunked reply.
	HeaderAccept = "Wisp-Accept-Chunks"
	// HeaderBodyTo on the caller's answer to a reply head: the subject
	// the chunks go to.
	HeaderBodyTo = "Wisp-Body-To"
)

// MaxBody is the largest body the protocol carries: 64 MiB.
const MaxBody = 64 << 20

// Window is how many chunks of one transfer may be unanswered at a time.
const Window = 4

// WholeMax is the largest body sent whole, as one message, on a server
// whose max_payload allows it. Larger bodies go in chunks of this size even
// below the server's limit: a host then pulls a call's body only when an
// instance is free to run it, so what it has in flight is bounded by its
// instances, not by how many callers send at once (at 900 KiB and 64
// callers the server used to hold more for a host than its max_pending and
// drop it as a slow consumer).
const WholeMax = 256 << 10

// headroom is kept below the server's max_payload for headers.
const headroom = 8 << 10

// DefaultChunkTimeout is how long one side waits for the next chunk or
// acknowledgement before it gives up.
const DefaultChunkTimeout = 5 * time.Second

// Errors, to be tested with errors.Is.
var (
	// ErrTooLarge reports a body above what the receiver takes.
	ErrTooLarge = errors.New("payload too large")
	// ErrNotAccepted reports a reply above the NATS limit to a caller
	// that did not send Wisp-Accept-Chunks.
	ErrNotAccepted = errors.New("caller does not accept a chunked reply")
	// ErrLost reports a chunk that did not come within the chunk timeout.
	ErrLost = errors.New("chunk lost")
	// ErrGone reports a peer whose inbox went away mid-transfer.
	ErrGone = errors.New("peer went away")
	// ErrProtocol reports a malformed chunked message.
	ErrProtocol = errors.New("bad chunked transfer")
)

// Limit is the largest body nc sends whole, and the size of its chunks:
// WholeMax, or the server's max_payload less room for headers when that is
// smaller.
func Limit(nc *nats.Conn) int { return min(maxChunk(nc), WholeMax) }

// maxChunk is the largest chunk a peer may send on nc's server.
func maxChunk(nc *nats.Conn) int { return max(int(nc.MaxPayload())-headroom, 1024) }

func chunkSize(nc *nats.Conn) int { return Limit(nc) }

// IsChunked reports whether the body of call m comes in chunks.
func IsChunked(m *nats.Msg) bool { return m.Header.Get(HeaderBodySize) != "" }

// Options tune a transfer; the zero value takes the defaults.
type Options struct {
	// ChunkTimeout is how long to wait for the next chunk or
	// acknowledgement (default DefaultChunkTimeout).
	ChunkTimeout time.Duration
	// MaxReply is the largest reply body a caller takes (default MaxBody).
	MaxReply int
}

func (o Options) chunkTimeout() time.Duration {
	if o.ChunkTimeout > 0 {
		return o.ChunkTimeout
	}
	return DefaultChunkTimeout
}

func (o Options) maxReply() int {
	if o.MaxReply > 0 {
		return min(o.MaxReply, MaxBody)
	}
	return MaxBody
}

// Request sends msg as a request on nc and returns the reply, carrying
// msg's body and the reply's in chunks when they are above Limit. A reply
// whose Status header says no one listens is nats.ErrNoResponders.
func Request(ctx context.Context, nc *nats.Conn, msg *nats.Msg, o Options) (*nats.Msg, error) {
	out := &nats.Msg{Subject: msg.Subject, Data: msg.Data, Header: nats.Header{}}
	for k, v := range msg.Header {
		out.Header[k] = v
	}
	out.Header.Set(HeaderAccept, "1")
	if len(msg.Data) <= Limit(nc) {
		reply, err := nc.RequestMsgWithContext(ctx, out)
		if err != nil {
			return nil, err
		}
		if !IsChunked(reply) {
			return reply, nil
		}
		return receive(ctx, nc, reply, o)
	}
	if len(msg.Data) > MaxBody {
		return nil, fmt.Errorf("%w: %d bytes, the most a chunked call carries is %d", ErrTooLarge, len(msg.Data), MaxBody)
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribe for chunk pulls: %w", err)
	}
	defer sub.Unsubscribe()
	size := chunkSize(nc)
	out.Data = nil
	out.Reply = inbox
	out.Header.Set(HeaderBodySize, strconv.Itoa(len(msg.Data)))
	out.Header.Set(HeaderChunkSize, strconv.Itoa(size))
	if err := nc.PublishMsg(out); err != nil {
		return nil, err
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case m.Header.Get("Status") == "503":
			return nil, nats.ErrNoResponders
		case m.Header.Get(HeaderPull) != "":
			i, err := strconv.Atoi(m.Header.Get(HeaderPull))
			n := (len(msg.Data) + size - 1) / size
			if err != nil || i < 0 || i >= n {
				continue // not a pull of this call's body
			}
			if err := m.Respond(msg.Data[i*size : min((i+1)*size, len(msg.Data))]); err != nil {
				return nil, fmt.Errorf("send chunk %d of %d: %w", i, n, err)
			}
		case IsChunked(m):
			return receive(ctx, nc, m, o)
		default:
			return m, nil
		}
	}
}

// receive takes the chunked reply whose head is head.
func receive(ctx context.Context, nc *nats.Conn, head *nats.Msg, o Options) (*nats.Msg, error) {
	total, size, n, err := shape(head.Header, o.maxReply(), 0)
	if err != nil {
		head.Respond(nil) // no Wisp-Body-To: the responder stops
		return nil, fmt.Errorf("reply: %w", err)
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("subscribe for reply chunks: %w", err)
	}
	defer sub.Unsubscribe()
	if err := head.RespondMsg(&nats.Msg{Header: nats.Header{HeaderBodyTo: []string{inbox}}}); err != nil {
		return nil, fmt.Errorf("ask for the reply's chunks: %w", err)
	}
	body := make([]byte, total)
	have := make([]bool, n)
	for left := n; left > 0; {
		m, err := next(ctx, sub, o.chunkTimeout())
		if err != nil {
			return nil, fmt.Errorf("reply of %d bytes: %d of %d chunks missing: %w", total, left, n, err)
		}
		i, err := strconv.Atoi(m.Header.Get(HeaderChunk))
		if err != nil || i < 0 || i >= n || len(m.Data) != chunkLen(i, size, total) {
			return nil, fmt.Errorf("reply: %w: chunk %q of %d bytes does not fit a body of %d in chunks of %d", ErrProtocol, m.Header.Get(HeaderChunk), len(m.Data), total, size)
		}
		if !have[i] {
			copy(body[i*size:], m.Data)
			have[i] = true
			left--
		}
		m.Respond(nil)
	}
	reply := &nats.Msg{Subject: head.Subject, Header: nats.Header{}, Data: body}
	for k, v := range head.Header {
		reply.Header[k] = v
	}
	reply.Header.Del(HeaderBodySize)
	reply.Header.Del(HeaderChunkSize)
	return reply, nil
}

// ReadBody returns the body of call m: m.Data, or the chunks pulled from
// the caller when m is chunked. A body above limit is ErrTooLarge before
// anything is pulled.
func ReadBody(ctx context.Context, nc *nats.Conn, m *nats.Msg, limit int, o Options) ([]byte, error) {
	if !IsChunked(m) {
		return m.Data, nil
	}
	if m.Reply == "" {
		return nil, fmt.Errorf("%w: a chunked call needs a reply subject to pull its chunks from", ErrProtocol)
	}
	total, size, n, err := shape(m.Header, limit, maxChunk(nc))
	if err != nil {
		return nil, err
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return nil, fmt.Errorf("subscribe for chunks: %w", err)
	}
	defer sub.Unsubscribe()
	pull := func(i int) error {
		return nc.PublishMsg(&nats.Msg{Subject: m.Reply, Reply: inbox + "." + strconv.Itoa(i), Header: nats.Header{HeaderPull: []string{strconv.Itoa(i)}}})
	}
	body := make([]byte, total)
	sent := 0
	for ; sent < min(Window, n); sent++ {
		if err := pull(sent); err != nil {
			return nil, err
		}
	}
	have := make([]bool, n)
	for left := n; left > 0; {
		r, err := next(ctx, sub, o.chunkTimeout())
		if err != nil {
			return nil, fmt.Errorf("body of %d bytes: %d of %d chunks missing: %w", total, left, n, err)
		}
		i, err := strconv.Atoi(r.Subject[len(inbox)+1:])
		if err != nil || i < 0 || i >= n || len(r.Data) != chunkLen(i, size, total) {
			return nil, fmt.Errorf("%w: chunk %s of %d bytes does not fit a body of %d in chunks of %d", ErrProtocol, r.Subject[len(inbox)+1:], len(r.Data), total, size)
		}
		if have[i] {
			continue
		}
		copy(body[i*size:], r.Data)
		have[i] = true
		left--
		if sent < n {
			if err := pull(sent); err != nil {
				return nil, err
			}
			sent++
		}
	}
	return body, nil
}

// Respond answers call m with reply on nc, in chunks when reply's body is
// above Limit. A caller that did not send Wisp-Accept-Chunks gets nothing
// and Respond returns ErrNotAccepted: answer it with an error.
func Respond(ctx context.Context, nc *nats.Conn, m *nats.Msg, reply *nats.Msg, o Options) error {
	accepts := m.Header.Get(HeaderAccept) != ""
	if len(reply.Data) <= Limit(nc) || (!accepts && len(reply.Data) <= maxChunk(nc)) {
		return m.RespondMsg(reply)
	}
	total := len(reply.Data)
	if !accepts {
		return fmt.Errorf("%w: the reply has %d bytes, above the NATS server's limit of %d (send the header %s: 1 to take it in chunks)", ErrNotAccepted, total, maxChunk(nc), HeaderAccept)
	}
	if total > MaxBody {
		return fmt.Errorf("%w: the reply has %d bytes, the most a chunked reply carries is %d", ErrTooLarge, total, MaxBody)
	}
	size := chunkSize(nc)
	n := (total + size - 1) / size
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return fmt.Errorf("subscribe for acknowledgements: %w", err)
	}
	defer sub.Unsubscribe()
	head := &nats.Msg{Subject: m.Reply, Reply: inbox + ".head", Header: nats.Header{}}
	for k, v := range reply.Header {
		head.Header[k] = v
	}
	head.Header.Set(HeaderBodySize, strconv.Itoa(total))
	head.Header.Set(HeaderChunkSize, strconv.Itoa(size))
	if err := nc.PublishMsg(head); err != nil {
		return err
	}
	r, err := next(ctx, sub, o.chunkTimeout())
	if err != nil {
		return fmt.Errorf("reply of %d bytes: the caller did not ask for its chunks: %w", total, err)
	}
	to := r.Header.Get(HeaderBodyTo)
	if to == "" {
		return fmt.Errorf("reply of %d bytes: %w: the caller declined it", total, ErrTooLarge)
	}
	push := func(i int) error {
		return nc.PublishMsg(&nats.Msg{Subject: to, Reply: inbox + "." + strconv.Itoa(i), Header: nats.Header{HeaderChunk: []string{strconv.Itoa(i)}},
			Data: reply.Data[i*size : min((i+1)*size, total)]})
	}
	sent := 0
	for ; sent < min(Window, n); sent++ {
		if err := push(sent); err != nil {
			return err
		}
	}
	for left := n; left > 0; left-- {
		if _, err := next(ctx, sub, o.chunkTimeout()); err != nil {
			return fmt.Errorf("reply of %d bytes: %d of %d chunks unacknowledged: %w", total, left, n, err)
		}
		if sent < n {
			if err := push(sent); err != nil {
				return err
			}
			sent++
		}
	}
	return nil
}

// next waits for the next message of sub for at most d, within ctx. A
// no-responders status is ErrGone, a wait past d ErrLost.
func next(ctx context.Context, sub *nats.Subscription, d time.Duration) (*nats.Msg, error) {
	wait, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	m, err := sub.NextMsgWithContext(wait)
	switch {
	case err == nil && m.Header.Get("Status") == "503":
		return nil, fmt.Errorf("%w: no one listens on its inbox any more", ErrGone)
	case err == nil:
		return m, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: none came within %s", ErrLost, d)
	}
	return nil, err
}

// shape reads and checks the size headers: the body's size (at most
// limit), the chunk size (at most maxChunkSize when that is positive) and
// the number of chunks.
func shape(h nats.Header, limit, maxChunkSize int) (total, size, n int, err error) {
	total, err1 := strconv.Atoi(h.Get(HeaderBodySize))
	size, err2 := strconv.Atoi(h.Get(HeaderChunkSize))
	switch {
	case err1 != nil || err2 != nil || total < 0 || size <= 0 || (maxChunkSize > 0 && size > maxChunkSize):
		return 0, 0, 0, fmt.Errorf("%w: %s %q, %s %q", ErrProtocol, HeaderBodySize, h.Get(HeaderBodySize), HeaderChunkSize, h.Get(HeaderChunkSize))
	case total > limit || total > MaxBody:
		return 0, 0, 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, total, min(limit, MaxBody))
	}
	return total, size, (total + size - 1) / size, nil
}

func chunkLen(i, size, total int) int { return min(size, total-i*size) }
