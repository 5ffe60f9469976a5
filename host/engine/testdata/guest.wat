;; A hand-written waPC guest, to prove a non-Go guest runs and to provoke
;; every failure cheaply. The operation's first byte picks the behaviour:
;;   e... echo the payload          f... fail with a guest error
;;   h... host call ("default", "testing", "echo", payload) and return its answer
;;   l... loop forever              t... trap (unreachable)
;;   g... grow memory by 1000 pages and trap if the host refuses, like an allocator
;;   c... __console_log the payload and return nothing
;;   o... load from far outside memory       r... recurse until the stack overflows
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
  (memory (export "memory") 2)
  ;; operation at 0, payload at 4096, host answers at 8192
  (data (i32.const 1024) "default")
  (data (i32.const 1040) "testing")
  (data (i32.const 1056) "echo")
  (data (i32.const 1072) "planned failure")
  (func $recurse (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (local.get $n)))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $op i32) (local $n i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    (local.set $op (i32.load8_u (i32.const 0)))
    (if (i32.eq (local.get $op) (i32.const 0x65)) ;; e
      (then (call $guest_response (i32.const 4096) (local.get $len)) (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 0x66)) ;; f
      (then (call $guest_error (i32.const 1072) (i32.const 15)) (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 0x68)) ;; h
      (then
        (if (call $host_call (i32.const 1024) (i32.const 7) (i32.const 1040) (i32.const 7)
                             (i32.const 1056) (i32.const 4) (i32.const 4096) (local.get $len))
          (then
            (local.set $n (call $host_response_len))
            (call $host_response (i32.const 8192))
            (call $guest_response (i32.const 8192) (local.get $n))
            (return (i32.const 1))))
        (local.set $n (call $host_error_len))
        (call $host_error (i32.const 8192))
        (call $guest_error (i32.const 8192) (local.get $n))
        (return (i32.const 0))))
    (if (i32.eq (local.get $op) (i32.const 0x6c)) ;; l
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $op) (i32.const 0x74)) ;; t
      (then unreachable))
    (if (i32.eq (local.get $op) (i32.const 0x67)) ;; g
      (then
        (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))
        (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 0x63)) ;; c
      (then (call $console_log (i32.const 4096) (local.get $len)) (return (i32.const 1))))
    (if (i32.eq (local.get $op) (i32.const 0x6f)) ;; o
      (then (return (i32.load (i32.const 0x7ffffff0)))))
    (if (i32.eq (local.get $op) (i32.const 0x72)) ;; r
      (then (return (call $recurse (i32.const 0)))))
    (call $guest_error (i32.const 0) (local.get $op_len))
    (i32.const 0))
)
