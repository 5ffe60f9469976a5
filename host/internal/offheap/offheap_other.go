//go:build !unix

package offheap

func mapAnon(int) ([]byte, func(), error) { return nil, nil, ErrUnsupported }

func protectRead([]byte) error { return ErrUnsupported }
