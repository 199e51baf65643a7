/*
 * distill.h - the loss and bookkeeping of distillation (`train --teacher`, distill.c) that
 * ppo.c uses.
 */
#ifndef TD_TRAIN_DISTILL_H
#define TD_TRAIN_DISTILL_H

#include "trackday/policy.h"

/* A continuous student agrees with its teacher when both means are this close (in [-1, 1]). */
#define TD__DISTILL_AGREE_TOL 0.1f

/* After td_nn_net_forward of the teacher's policy tower on B observations: the targets
 * (B, n_out): action probabilities at the temperature (softmax(logits / temperature); 1: the
 * teacher's own; 0: one-hot on its greedy action) (discrete), or the mean in [-1, 1]
 * (continuous). */
void td__distill_targets(const td_policy *teacher, double temperature, int B, float *targets);

/* The teacher's greedy action for row b of targets: env_action (steering_deg, speed) and the
 * discrete index (-1 for continuous; act_index may be NULL). */
void td__distill_act(const td_policy *teacher, const float *targets, int b, float *env_action,
                     int *act_index);

/* Rows of B where the student's greedy choice (out: its policy tower's outputs) is the
 * teacher's (continuous: both means within TD__DISTILL_AGREE_TOL). */
int td__distill_agree(const td_policy *student, const float *out, const float *targets, int B);

/* The imitation loss of the student's outputs out (B, n_out) against targets, its mean over B:
 * cross-entropy to the teacher's probabilities (discrete), or the squared error of the mean
 * (continuous); dout (B, n_out) receives its gradient; *entropy the student's mean entropy. */
float td__distill_loss(const td_policy *student, const float *out, const float *targets, int B,
                       float *dout, double *entropy);

#endif
