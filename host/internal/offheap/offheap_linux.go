package offheap

import "syscall"

// mapPopulate has the kernel fault the pages in with the mapping.
const mapPopulate = syscall.MAP_POPULATE
