;; The smallest waPC actor: one page of memory, echoes the payload (up to
;; 60 KiB). The scale test and bench/latticescale run hundreds of its
;; instances, so each must cost little.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    (call $guest_response (i32.const 4096) (local.get $len))
    (i32.const 1)))
