// Package hugepage maps anonymous memory in transparent huge pages where
// the system gives them: memory filled at once (a module read, a guest's
// initialisation) then faults one page per 2 MiB rather than one per 4 KiB,
// which on a virtual machine, where each fault and TLB miss is dear, is
// most of the cost of filling it.
package hugepage

// Size is the size of a transparent huge page.
const Size = 2 << 20
