/* Learning-rate schedules as pure functions of the optimizer step, so a resumed run gets the
 * same values without saving any schedule state. Steps count from 0; warmup is linear with the
 * first step at peak/warmup (not 0), as llm.c does. */
#ifndef SLT_SCHEDULE_H
#define SLT_SCHEDULE_H

#include <stdint.h>

typedef enum {
  SLT_SCHED_COSINE,
  SLT_SCHED_LINEAR,
  SLT_SCHED_CONSTANT,
  SLT_SCHED_WSD,    /* warmup, stable at peak, linear decay over the last decay_fraction */
  SLT_SCHED_TRILM,  /* cosine with the peak halved from 50% on, weight decay off from 2/3 */
  SLT_SCHED_IFAIRY, /* 1 − (t−w)/T until T/2, then 0.6666·(1 − t/T); weight decay off from T/2 */
  SLT_SCHED_BITNET, /* two stages: peak·(1 − (t−w)/T) until split·T, then peak·peak2·(1 − t/T);
                       weight decay off in stage 2 (ifairy is bitnet with split ½, peak2 0.6666) */
} slt_schedule_kind;
/* The config's schedule.name spellings, in enum order (NULL-terminated). */
extern const char *const slt_schedule_names[];

typedef struct slt_schedule {
  slt_schedule_kind kind;
  double peak_lr;
  double min_lr_ratio;   /* floor of cosine/linear/wsd decay, as a fraction of peak */
  double warmup;         /* fraction of total steps when < 1, else a step count */
  double decay_fraction; /* wsd only */
  double split, peak2;   /* bitnet: stage 2 starts at split·T with peak2·peak_lr */
  double drop_at, drop;  /* trilm: lr × drop from drop_at·T on */
  double wd_off_at;      /* trilm: weight decay off from wd_off_at·T on */
  int64_t total_steps;
} slt_schedule;

typedef struct slt_schedule_point {
  double lr;       /* learning rate for this step */
  double wd_scale; /* factor on the configured weight decay (the papers' interventions) */
} slt_schedule_point;

/* The learning rate and weight-decay factor at a step. */
slt_schedule_point slt_schedule_at(const slt_schedule *s, int64_t step);
/* Warmup length in steps. */
int64_t slt_schedule_warmup_steps(const slt_schedule *s);

#endif
