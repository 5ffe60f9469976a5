;; An echo actor for payloads up to 64 MiB: the operation's name goes at
;; 0, the payload at 4096, and 1025 pages hold 64 MiB after it. An
;; operation starting with "w" first makes a host call (binding "default",
;; namespace "test:gate", operation "Wait"), so a test can hold the
;; instance busy.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1025)
  (data (i32.const 1024) "default")
  (data (i32.const 1040) "test:gate")
  (data (i32.const 1056) "Wait")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    (if (i32.eq (i32.load8_u (i32.const 0)) (i32.const 0x77)) ;; w
      (then (drop (call $host_call (i32.const 1024) (i32.const 7) (i32.const 1040) (i32.const 9)
                                   (i32.const 1056) (i32.const 4) (i32.const 4096) (i32.const 0)))))
    (call $guest_response (i32.const 4096) (local.get $len))
    (i32.const 1)))
