;; An echo actor for payloads up to 64 MiB: the operation's name goes at
;; 0, the payload at 4096, and 1025 pages hold 64 MiB after it.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1025)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    (call $guest_response (i32.const 4096) (local.get $len))
    (i32.const 1)))
