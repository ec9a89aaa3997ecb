import type { ResumeEvent } from '../core/resume.ts';

/** Delivers a resume event at (or soon after) a time. Each AWS service sits behind one adapter. */
export interface Timer {
  schedule(event: ResumeEvent, at: Date): Promise<void>;
}
