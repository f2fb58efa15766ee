/* The packet fan-out's hot loop: one call per published packet rewrites the RTP header
 * for every down-track in steady state, SRTP-protects it with libsrtp (pylibsrtp's own
 * copy, whose srtp_protect is handed over by rb_init) and sends the datagram.
 *
 * What decides which down-tracks are in steady state (forwarding, not waiting for a
 * keyframe, offsets based, link up on a plain UDP pair) stays in Python:
 * bridge/packets.py. Single-threaded: everything runs on the event loop. */
#include "fanout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

typedef int (*rb_protect_fn)(void *ctx, void *rtp, int *length);

static rb_protect_fn protect;

void rb_init(uintptr_t srtp_protect) { protect = (rb_protect_fn)srtp_protect; }

void rb_lane_reset(rb_lane *lane) {
    memset(lane, 0, sizeof(*lane));
    lane->fd = -1;
    lane->ast_offset = -1;
    lane->last_seq = -1;
    for (int i = 0; i < RB_HISTORY; i++) lane->history_out[i] = -1;
}

int rb_set_peer(rb_lane *lane, int fd, const char *host, int port) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&lane->peer;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&lane->peer;
    memset(&lane->peer, 0, sizeof(lane->peer));
    lane->fd = -1;
    lane->peer_len = 0;
    if (port <= 0 || port > 65535) return 0;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        lane->peer_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        lane->peer_len = sizeof(*v6);
    } else {
        return 0; /* a scoped or named address: Python sends */
    }
    lane->fd = fd;
    return 1;
}

static inline void put16(uint8_t *at, uint32_t value) {
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static inline void put32(uint8_t *at, uint32_t value) {
    at[0] = (uint8_t)(value >> 24);
    at[1] = (uint8_t)(value >> 16);
    at[2] = (uint8_t)(value >> 8);
    at[3] = (uint8_t)value;
}

int rb_send(rb_lane *lane, int marker_pt, uint16_t seq, uint32_t timestamp, uint32_t ssrc,
            const char *payload, int length, uint32_t send_time, int osn) {
    uint8_t *out = lane->out;
    int start = 12;
    if (protect == NULL || lane->srtp == 0 || length < 0) return RB_REFUSED;
    out[0] = lane->first_byte;
    out[1] = (uint8_t)marker_pt;
    put16(out + 2, seq);
    put32(out + 4, timestamp);
    put32(out + 8, ssrc);
    if (lane->head_len > 0) {
        memcpy(out + 12, lane->head, (size_t)lane->head_len);
        if (lane->ast_offset > 0) put32(out + lane->ast_offset, lane->ast_word | send_time);
        start += lane->head_len;
    }
    if (osn >= 0) {
        put16(out + start, (uint32_t)osn);
        start += 2;
    }
    if (start + length > RB_DATAGRAM - RB_TRAILER) return RB_REFUSED;
    memcpy(out + start, payload, (size_t)length);
    int size = start + length;
    /* libsrtp refuses an index too far behind the newest it protected (a very late
     * packet): dropped, like a datagram the socket refuses. */
    if (protect((void *)lane->srtp, out, &size) != 0) return RB_REFUSED;
    if (lane->fd < 0) {
        lane->out_len = size;
        return RB_DELIVER;
    }
    if (sendto(lane->fd, out, (size_t)size, 0, (struct sockaddr *)&lane->peer, lane->peer_len) <
        0) {
        lane->send_errors++;
        lane->last_errno = errno;
        return RB_REFUSED;
    }
    return RB_SENT;
}

int rb_forward(rb_lane *lane, uint16_t seq, uint32_t timestamp, int marker,
               const char *payload, int length, uint32_t send_time, int ends, double now) {
    if ((uint16_t)(seq - lane->base_seq) & 0x8000) return RB_OLD;
    uint16_t out_seq = (uint16_t)(seq + lane->seq_offset);
    uint32_t out_ts = timestamp + lane->ts_offset;
    int done = rb_send(lane, (marker << 7) | lane->payload_type, out_seq, out_ts, lane->ssrc,
                       payload, length, send_time, -1);
    if (done == RB_REFUSED) return done;
    int slot = out_seq % RB_HISTORY;
    lane->history_out[slot] = out_seq;
    lane->history_in[slot] = seq;
    lane->history_ts[slot] = lane->ts_offset;
    if (lane->last_seq < 0 || !((uint16_t)(out_seq - (uint16_t)lane->last_seq) & 0x8000)) {
        lane->last_seq = out_seq;
        lane->last_ts = out_ts;
        lane->last_sent = now;
    }
    lane->packets_out++;
    lane->bytes_out += (uint64_t)length;
    lane->frames_out += (uint64_t)ends;
    return done;
}

int rb_fanout(rb_lane **lanes, int count, uint16_t seq, uint32_t timestamp, int marker,
              const char *payload, int length, uint32_t send_time, int ends) {
    struct timespec clock;
    clock_gettime(CLOCK_MONOTONIC, &clock);
    double now = (double)clock.tv_sec + (double)clock.tv_nsec * 1e-9;
    int sent = 0;
    for (int i = 0; i < count; i++) {
        rb_lane *lane = lanes[i];
        lane->frames_in += (uint64_t)ends;
        lane->bytes_in += (uint64_t)length;
        if (rb_forward(lane, seq, timestamp, marker, payload, length, send_time, ends, now) ==
            RB_SENT)
            sent++;
    }
    return sent;
}
