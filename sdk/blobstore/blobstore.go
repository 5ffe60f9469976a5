// Package blobstore is the actor side of wasmcloud:blobstore: containers of
// named objects (files, images, documents) kept by whichever provider is
// linked to the actor. wisp has no built-in blobstore provider: a third
// party serves the contract (examples/blobstore-fs is one on the local
// filesystem). Payloads are wasmCloud's: MessagePack maps with camelCase
// field names, so wasmCloud's blobstore providers answer this client too.
// The actor's claims must list the contract (wisp build --cap
// wasmcloud:blobstore).
//
//	err := blobstore.PutObject(ctx, "photos", "cat.jpg", data, "image/jpeg")
//	data, ok, err := blobstore.GetObject(ctx, "photos", "cat.jpg")
//
// The package-level functions use the link named "default"; New names
// another. Objects travel in one chunk.
package blobstore

import (
	"context"
	"errors"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk"
)

// Contract is the contract id.
const Contract = "wasmcloud:blobstore"

// Operations of the contract this client calls.
const (
	OpContainerExists  = "Blobstore.ContainerExists"
	OpCreateContainer  = "Blobstore.CreateContainer"
	OpRemoveContainers = "Blobstore.RemoveContainers"
	OpObjectExists     = "Blobstore.ObjectExists"
	OpPutObject        = "Blobstore.PutObject"
	OpGetObject        = "Blobstore.GetObject"
	OpRemoveObjects    = "Blobstore.RemoveObjects"
	OpListObjects      = "Blobstore.ListObjects"
)

// Client reaches the provider linked under one link name.
type Client struct{ link string }

// New returns a client for the link named link.
func New(link string) Client { return Client{link: link} }

// Default is the client of the "default" link.
var Default = New("default")

func (c Client) call(ctx context.Context, op string, payload []byte) ([]byte, error) {
	out, err := sdk.HostCall(ctx, c.link, Contract, op, payload)
	return out, wrap.Error(op, err)
}

func (c Client) boolOp(ctx context.Context, op string, payload []byte) (bool, error) {
	out, err := c.call(ctx, op, payload)
	if err != nil {
		return false, err
	}
	v, _, err := msgpack.ReadBool(out)
	return v, wrap.Error(op, err)
}

// containerObject is wasmCloud's ContainerObject.
func containerObject(container, object string) []byte {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "containerId")
	b = msgpack.AppendString(b, container)
	b = msgpack.AppendString(b, "objectId")
	return msgpack.AppendString(b, object)
}

// ContainerExists says whether the container exists.
func (c Client) ContainerExists(ctx context.Context, container string) (bool, error) {
	return c.boolOp(ctx, OpContainerExists, msgpack.AppendString(nil, container))
}

// CreateContainer makes the container; one that exists is left as it is.
func (c Client) CreateContainer(ctx context.Context, container string) error {
	_, err := c.call(ctx, OpCreateContainer, msgpack.AppendString(nil, container))
	return err
}

// RemoveContainers removes the containers and what they hold.
func (c Client) RemoveContainers(ctx context.Context, containers ...string) error {
	b := msgpack.AppendArrayHeader(nil, len(containers))
	for _, n := range containers {
		b = msgpack.AppendString(b, n)
	}
	out, err := c.call(ctx, OpRemoveContainers, b)
	if err != nil {
		return err
	}
	return wrap.Error(OpRemoveContainers, operationResults(out))
}

// ObjectExists says whether the object exists in the container.
func (c Client) ObjectExists(ctx context.Context, container, object string) (bool, error) {
	return c.boolOp(ctx, OpObjectExists, containerObject(container, object))
}

// PutObject stores data as object in container (made if missing by the
// provider), with its content type.
func (c Client) PutObject(ctx context.Context, container, object string, data []byte, contentType string) error {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "chunk")
	b = msgpack.AppendMapHeader(b, 5)
	b = msgpack.AppendString(b, "objectId")
	b = msgpack.AppendString(b, object)
	b = msgpack.AppendString(b, "containerId")
	b = msgpack.AppendString(b, container)
	b = msgpack.AppendString(b, "bytes")
	b = msgpack.AppendBytes(b, data)
	b = msgpack.AppendString(b, "offset")
	b = msgpack.AppendUint(b, 0)
	b = msgpack.AppendString(b, "isLast")
	b = msgpack.AppendBool(b, true)
	b = msgpack.AppendString(b, "contentType")
	b = msgpack.AppendString(b, contentType)
	_, err := c.call(ctx, OpPutObject, b)
	return err
}

// GetObject returns the object's bytes and whether it exists.
func (c Client) GetObject(ctx context.Context, container, object string) ([]byte, bool, error) {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "containerId")
	b = msgpack.AppendString(b, container)
	b = msgpack.AppendString(b, "objectId")
	b = msgpack.AppendString(b, object)
	out, err := c.call(ctx, OpGetObject, b)
	if err != nil {
		return nil, false, err
	}
	var data []byte
	var success bool
	var failure string
	err = msgpack.ReadMap(out, func(k string, b []byte) ([]byte, error) {
		var err error
		switch k {
		case "success":
			success, b, err = msgpack.ReadBool(b)
		case "error":
			if len(b) > 0 && b[0] == 0xc0 { // nil
				return b[1:], nil
			}
			failure, b, err = msgpack.ReadString(b)
		case "initialChunk":
			if len(b) > 0 && b[0] == 0xc0 {
				return b[1:], nil
			}
			err = msgpack.ReadMap(b, func(k string, cb []byte) ([]byte, error) {
				var err error
				if k == "bytes" {
					data, cb, err = msgpack.ReadBytes(cb)
					data = append([]byte(nil), data...)
					return cb, err
				}
				return msgpack.Skip(cb)
			})
			if err == nil {
				b, err = msgpack.Skip(b)
			}
		default:
			b, err = msgpack.Skip(b)
		}
		return b, err
	})
	if err != nil {
		return nil, false, wrap.Error(OpGetObject, err)
	}
	if !success {
		if failure == "" {
			return nil, false, nil // no such object
		}
		return nil, false, wrap.Error(OpGetObject, errors.New(failure))
	}
	return data, true, nil
}

// RemoveObjects removes objects from container.
func (c Client) RemoveObjects(ctx context.Context, container string, objects ...string) error {
	b := msgpack.AppendMapHeader(nil, 2)
	b = msgpack.AppendString(b, "containerId")
	b = msgpack.AppendString(b, container)
	b = msgpack.AppendString(b, "objects")
	b = msgpack.AppendArrayHeader(b, len(objects))
	for _, o := range objects {
		b = msgpack.AppendString(b, o)
	}
	out, err := c.call(ctx, OpRemoveObjects, b)
	if err != nil {
		return err
	}
	return wrap.Error(OpRemoveObjects, operationResults(out))
}

// ListObjects returns the names of the objects in container.
func (c Client) ListObjects(ctx context.Context, container string) ([]string, error) {
	b := msgpack.AppendMapHeader(nil, 1)
	b = msgpack.AppendString(b, "containerId")
	b = msgpack.AppendString(b, container)
	out, err := c.call(ctx, OpListObjects, b)
	if err != nil {
		return nil, err
	}
	var names []string
	err = msgpack.ReadMap(out, func(k string, b []byte) ([]byte, error) {
		if k != "objects" {
			return msgpack.Skip(b)
		}
		n, b, err := msgpack.ReadArrayHeader(b)
		for i := 0; i < n && err == nil; i++ {
			start := b
			err = msgpack.ReadMap(b, func(k string, mb []byte) ([]byte, error) {
				if k != "objectId" {
					return msgpack.Skip(mb)
				}
				var name string
				var err error
				name, mb, err = msgpack.ReadString(mb)
				names = append(names, name)
				return mb, err
			})
			if err == nil {
				b, err = msgpack.Skip(start)
			}
		}
		return b, err
	})
	return names, wrap.Error(OpListObjects, err)
}

// operationResults reads wasmCloud's list of OperationResult and returns
// the first failure.
func operationResults(b []byte) error {
	n, b, err := msgpack.ReadArrayHeader(b)
	for i := 0; i < n && err == nil; i++ {
		start := b
		var key, failure string
		err = msgpack.ReadMap(b, func(k string, rb []byte) ([]byte, error) {
			var err error
			switch {
			case k == "key":
				key, rb, err = msgpack.ReadString(rb)
			case k == "error" && len(rb) > 0 && rb[0] != 0xc0:
				failure, rb, err = msgpack.ReadString(rb)
			default:
				rb, err = msgpack.Skip(rb)
			}
			return rb, err
		})
		if err == nil && failure != "" {
			return errors.New(key + ": " + failure)
		}
		if err == nil {
			b, err = msgpack.Skip(start)
		}
	}
	return err
}

// ContainerExists says whether the container exists, on the default link.
func ContainerExists(ctx context.Context, container string) (bool, error) {
	return Default.ContainerExists(ctx, container)
}

// CreateContainer makes the container, on the default link.
func CreateContainer(ctx context.Context, container string) error {
	return Default.CreateContainer(ctx, container)
}

// ObjectExists says whether the object exists, on the default link.
func ObjectExists(ctx context.Context, container, object string) (bool, error) {
	return Default.ObjectExists(ctx, container, object)
}

// PutObject stores an object, on the default link.
func PutObject(ctx context.Context, container, object string, data []byte, contentType string) error {
	return Default.PutObject(ctx, container, object, data, contentType)
}

// GetObject returns an object's bytes, on the default link.
func GetObject(ctx context.Context, container, object string) ([]byte, bool, error) {
	return Default.GetObject(ctx, container, object)
}

// RemoveObjects removes objects, on the default link.
func RemoveObjects(ctx context.Context, container string, objects ...string) error {
	return Default.RemoveObjects(ctx, container, objects...)
}

// ListObjects lists a container's objects, on the default link.
func ListObjects(ctx context.Context, container string) ([]string, error) {
	return Default.ListObjects(ctx, container)
}
