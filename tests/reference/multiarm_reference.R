# Reference values for the multi-arm CACE and Holm across arms (analysis/results.py, issue 15.4).
#
#   Rscript tests/reference/multiarm_reference.R      (run from the repository root)
#
# Reads tests/reference/data/multiarm.csv (make_multiarm_dataset.py) and writes, with 17
# significant digits:
#   tests/reference/output/multiarm_cace.csv  per (se_type, arm): the pairwise CACE, i.e.
#       estimatr::iv_robust on the control arm's and that arm's participants only, assignment
#       to the arm instrumenting uptake, baseline and stratum in both stages; its first-stage F
#   tests/reference/output/multiarm_holm.csv  per (se_type, arm): the ITT p-value from one
#       estimatr::lm_robust on all three arms, and p.adjust(method = "holm") across the arms
#   tests/reference/output/multiarm_versions.txt  R and estimatr versions
# se_type HC2 (participants independent) and CR2 clustered by team (trialflow's
# analysis.cluster_se_by: team). The Python tests read these files; they never need R.
suppressPackageStartupMessages(library(estimatr))

d <- read.csv("tests/reference/data/multiarm.csv", na.strings = "NA")
d$stratum <- factor(d$stratum)
d$arm <- factor(d$arm, levels = c("control", "letter", "call"))
d$arm_letter <- as.numeric(d$arm == "letter")
d$arm_call <- as.numeric(d$arm == "call")
num <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))

cace_rows <- list()
holm_rows <- list()
for (se in c("HC2", "CR2")) {
  for (arm in c("letter", "call")) {
    pair <- d[d$arm %in% c("control", arm), ]
    pair$assigned <- as.numeric(pair$arm == arm)
    fit <- if (se == "CR2") {
      iv_robust(feeling_valued_endline ~ took_up + feeling_valued_baseline + stratum |
                  assigned + feeling_valued_baseline + stratum,
                data = pair, se_type = "CR2", clusters = team, diagnostics = TRUE)
    } else {
      iv_robust(feeling_valued_endline ~ took_up + feeling_valued_baseline + stratum |
                  assigned + feeling_valued_baseline + stratum,
                data = pair, se_type = "HC2", diagnostics = TRUE)
    }
    f <- fit$diagnostic_first_stage_fstatistic
    cace_rows[[length(cace_rows) + 1]] <- data.frame(
      se_type = se, arm = arm, estimate = num(fit$coefficients[["took_up"]]),
      std_error = num(fit$std.error[["took_up"]]), df = num(fit$df[["took_up"]]),
      p_value = num(fit$p.value[["took_up"]]), ci_low = num(fit$conf.low[["took_up"]]),
      ci_high = num(fit$conf.high[["took_up"]]), n = fit$nobs,
      n_clusters = if (is.null(fit$nclusters)) NA else fit$nclusters,
      first_stage_f = num(f[["value"]])
    )
  }
  itt <- if (se == "CR2") {
    lm_robust(feeling_valued_endline ~ arm_letter + arm_call + feeling_valued_baseline + stratum,
              data = d, se_type = "CR2", clusters = team)
  } else {
    lm_robust(feeling_valued_endline ~ arm_letter + arm_call + feeling_valued_baseline + stratum,
              data = d, se_type = "HC2")
  }
  p <- itt$p.value[c("arm_letter", "arm_call")]
  holm_rows[[length(holm_rows) + 1]] <- data.frame(
    se_type = se, arm = c("letter", "call"), p_value = num(p),
    p_value_holm = num(p.adjust(p, method = "holm"))
  )
}
out <- "tests/reference/output"
write.csv(do.call(rbind, cace_rows), file.path(out, "multiarm_cace.csv"), row.names = FALSE)
write.csv(do.call(rbind, holm_rows), file.path(out, "multiarm_holm.csv"), row.names = FALSE)
writeLines(c(R.version.string, paste("estimatr", packageVersion("estimatr"))),
           file.path(out, "multiarm_versions.txt"))
