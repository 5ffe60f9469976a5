;; A waPC guest for snapshot tests. _initialize counts its runs at byte 0,
;; sets a mutable global to 7 and, when the data at 64 says "log", logs
;; through __console_log (an effect a snapshot would not repeat). Operation
;; "bump" (any operation) adds one to byte 1 and to the global, and every
;; call answers 4 bytes: init runs, bumps, the global, the data's first
;; byte.
(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 64) "quiet")
  (func (export "_initialize")
    (i32.store8 (i32.const 0) (i32.add (i32.load8_u (i32.const 0)) (i32.const 1)))
    (global.set $g (i32.const 7))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 0x6c)) ;; 'l'
      (then (call $console_log (i32.const 64) (i32.const 3)))))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (i32.store8 (i32.const 1) (i32.add (i32.load8_u (i32.const 1)) (i32.const 1)))
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (i32.store8 (i32.const 2) (global.get $g))
    (i32.store8 (i32.const 3) (i32.load8_u (i32.const 64)))
    (call $guest_response (i32.const 0) (i32.const 4))
    (i32.const 1)))
