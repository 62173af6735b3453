/* The trainer's side of kernels/gemm.h: backend and precision from train.gemm and
 * train.precision, and the weight ranges whose bf16 copies a step may reuse. */
#ifndef SLT_TRAINER_GEMM_H
#define SLT_TRAINER_GEMM_H

#include "train/trainer.h"

/* Configure the products for the run (measuring for auto; every rank agrees) and print the
 * choice in one line. 0, or -1 (error recorded: bf16 asked for on a CPU without it). */
int slt_trainer_gemm_setup(slt_trainer *t);
/* A resume of an auto run keeps the backend the checkpoint's run used (kind, from its stored
 * config), so its products, and the bits of the run, stay those of the first part. 0 or -1. */
int slt_trainer_gemm_follow(slt_trainer *t, slt_gemm_kind kind);
/* Declare the model's (and SGT guides') weights as unchanged until slt_trainer_gemm_weights_end:
 * in bf16 each weight is then rounded once, not once per product. */
void slt_trainer_gemm_weights_begin(slt_trainer *t);
/* The weights may change from here on (the optimizer step). */
void slt_trainer_gemm_weights_end(void);

#endif
