/* The packet fan-out's hot loop (see bridge/fanout.c and bridge/fanout_build.py). */
#ifndef RB_FANOUT_H
#define RB_FANOUT_H

#include <stdint.h>
#include <sys/socket.h>

/* cffi reads the declarations from here to the end marker (bridge/fanout_build.py). */
/* cdef begin */
#define RB_HISTORY 1024      /* bridge.packets.HISTORY */
#define RB_DATAGRAM 1500     /* pylibsrtp's session buffer */
#define RB_TRAILER 144       /* pylibsrtp.SRTP_MAX_TRAILER_LEN */
#define RB_HEAD 64           /* room for the header extension block */

/* What a send did. */
#define RB_REFUSED 0         /* too long, refused by libsrtp, or by the socket */
#define RB_SENT 1            /* handed to the socket */
#define RB_DELIVER 2         /* protected into lane->out: Python delivers it */
#define RB_OLD 3             /* older than where forwarding (re)started: dropped */

typedef struct rb_lane {
    /* The link (bridge.rtc_internals.Downlink writes these). */
    uintptr_t srtp;                 /* srtp_t of the sending SRTP session */
    int fd;                         /* a dup of the ICE pair's UDP socket, or -1 */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint8_t first_byte;             /* 0x80, or 0x90 with extensions */
    uint8_t payload_type;
    uint32_t ssrc;
    uint8_t head[RB_HEAD];          /* extension block, abs-send-time zeroed */
    int head_len;
    int ast_offset;                 /* abs-send-time word in the packet, or -1 */
    uint32_t ast_word;
    int video;
    /* Header rewriting (bridge.packets.PacketDownTrack): out = in + offset. */
    uint16_t base_seq;
    uint16_t seq_offset;
    uint32_t ts_offset;
    int32_t last_seq;               /* -1 before the first packet sent */
    uint32_t last_ts;
    double last_sent;               /* CLOCK_MONOTONIC seconds, as time.monotonic() */
    int32_t history_out[RB_HISTORY];
    uint16_t history_in[RB_HISTORY];
    uint32_t history_ts[RB_HISTORY];
    /* Counts since Python last settled them into the down-track's TrackCounters. */
    uint64_t frames_in, bytes_in, frames_out, bytes_out;
    /* Running totals. */
    uint64_t packets_out;
    uint64_t send_errors;
    int last_errno;
    /* A datagram for Python to deliver (RB_DELIVER). */
    uint8_t out[RB_DATAGRAM];
    int out_len;
} rb_lane;

void rb_init(uintptr_t srtp_protect);
void rb_lane_reset(rb_lane *lane);
int rb_set_peer(rb_lane *lane, int fd, const char *host, int port);
int rb_send(rb_lane *lane, int marker_pt, uint16_t seq, uint32_t timestamp, uint32_t ssrc,
            const char *payload, int length, uint32_t send_time, int osn);
int rb_forward(rb_lane *lane, uint16_t seq, uint32_t timestamp, int marker,
               const char *payload, int length, uint32_t send_time, int ends, double now);
int rb_fanout(rb_lane **lanes, int count, uint16_t seq, uint32_t timestamp, int marker,
              const char *payload, int length, uint32_t send_time, int ends);
/* cdef end */

#endif
