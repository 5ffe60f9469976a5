//go:build unix && !linux

package offheap

const mapPopulate = 0
