package offheap

import "syscall"

// mapPopulate has the kernel fault the pages in with the mapping, in one
// pass, rather than one fault at a time as the read touches them.
const mapPopulate = syscall.MAP_POPULATE
