;; A waPC guest whose start function writes "started" into memory; every
;; call answers with it and a count of the runs (byte 8), so a test sees
;; that the start function ran once, before the first call.
(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "started")
  (func $start
    (i64.store (i32.const 0) (i64.load (i32.const 16)))
    (i32.store8 (i32.const 8) (i32.add (i32.load8_u (i32.const 8)) (i32.const 1))))
  (start $start)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (call $guest_response (i32.const 0) (i32.const 9))
    (i32.const 1)))
