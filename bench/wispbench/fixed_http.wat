;; An HTTP actor whose work costs next to nothing: it takes each
;; HttpServer.HandleRequest call's operation and request, as every waPC
;; guest does, and answers one fixed HttpResponse, 200 "Hello, world!\n" as
;; text/plain. The http section runs it beside hello-http (a Go guest) to
;; show what wisp itself costs a request, apart from what its guest costs.
;; Assembled with wat2wasm (Debian's wabt). Requests up to 120 KiB.
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 2)
  ;; httpserver.Text(200, "Hello, world!\n").Encode(): 83 bytes of MessagePack.
  (data (i32.const 0) "\83\aastatusCode\cc\c8\a6header\81\acContent-Type\91\b9text/plain; charset=utf-8\a4body\c4\0eHello, world!\0a")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 4096) (i32.const 8192))
    (call $guest_response (i32.const 0) (i32.const 83))
    (i32.const 1)))
