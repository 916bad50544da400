// Run a refresh now and then every `ms` until stopped (slower while the tab is hidden).

export class Poller {
  constructor(refresh, ms, onError) {
    this.refresh = refresh;
    this.ms = ms;
    this.onError = onError;
    this.stopped = true;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.tick();
  }

  async tick() {
    if (this.stopped) return;
    try {
      await this.refresh();
    } catch (error) {
      if (this.onError) this.onError(error);
    }
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), document.hidden ? this.ms * 5 : this.ms);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
