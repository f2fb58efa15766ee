// The level of a remote audio track, read with a WebAudio analyser (no playback needed).

let context = null;

export class AudioMeter {
  constructor(track) {
    this.samples = null;
    this.analyser = null;
    try {
      context ??= new AudioContext();
      context.resume().catch(() => {});
      this.analyser = context.createAnalyser();
      this.analyser.fftSize = 512;
      this.source = context.createMediaStreamSource(new MediaStream([track]));
      this.source.connect(this.analyser);
    } catch (err) {
      console.warn("audio meter unavailable", err);
      this.analyser = null;
    }
  }

  /** RMS level now, scaled to 0-100 (speech at a normal level reads about 20-60). */
  level() {
    if (!this.analyser) return 0;
    this.samples ??= new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const v of this.samples) sum += v * v;
    return Math.min(100, Math.round(Math.sqrt(sum / this.samples.length) * 300));
  }

  close() {
    this.source?.disconnect();
    this.analyser = null;
  }
}
