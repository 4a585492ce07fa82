"""Loopback HTTP server for integration/bench/proxy.sh: answers every request on a connection
(keep-alive unless the client says close) with the file named by the path, sent with sendfile
so the server is not what the benchmark measures. Usage: proxy_server.py DIR PORTFILE"""
import os, socket, socketserver, sys

root = sys.argv[1]

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock, buf = self.request, b""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in buf:
                data = sock.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            name = os.path.join(root, os.path.basename(path.split("?")[0]))
            close = b"connection: close" in head.lower()
            with open(name, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n"
                             % (size, b"Connection: close\r\n" if close else b""))
                sock.sendfile(f)
            if close:
                return

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

with Server(("127.0.0.1", 0), Handler) as srv:
    with open(sys.argv[2], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()
