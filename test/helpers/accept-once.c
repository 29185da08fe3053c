/*
 * Listen on a port, accept one connection with plain accept(2), copy what
 * it sends to stdout. Dante's socksify intercepts accept() but not accept4(),
 * which netcat, Python and Perl all use, so BIND through socksify is tested
 * with this. usage: accept-once PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: accept-once PORT\n");
    return 2;
  }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }
  if (listen(s, 1) != 0) { perror("listen"); return 1; }
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  int c = accept(s, (struct sockaddr *)&peer, &len);
  if (c < 0) { perror("accept"); return 1; }
  char buf[4096];
  ssize_t n;
  while ((n = read(c, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
  close(c);
  close(s);
  return 0;
}
