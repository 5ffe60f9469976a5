;; A waPC guest that cannot be snapshotted: its code writes a table and
;; uses memory.init. _initialize grows the table and copies a passive
;; segment to 0; every call answers the table's size and the 4 bytes at 0.
(module
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (data $d "init")
  (func (export "_initialize")
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 4)))
  (func (export "__guest_call") (param i32 i32) (result i32)
    (i32.store8 (i32.const 4) (i32.add (i32.const 0x30) (table.size $t)))
    (call $guest_response (i32.const 0) (i32.const 5))
    (i32.const 1)))
