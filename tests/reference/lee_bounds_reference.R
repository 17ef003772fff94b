# Reference values for analysis/attrition_bounds.py, written in base R from the papers'
# formulas (no package implements Lee bounds on this machine; this is an independent
# implementation, not a port of the Python).
#
#   Rscript tests/reference/lee_bounds_reference.R      (run from the repository root)
#
# Reads tests/reference/data/attrition.csv (make_issue15_datasets.py) and writes, with
# 17 significant digits, tests/reference/output/lee_bounds.csv: one row per
# (dataset, method, quantity), and output/lee_bounds_versions.txt (the R version).
# The Python tests read these files; they never need R.
#
# Lee, D. S. (2009) Rev Econ Stud 76:1071-1102, Proposition 3 (bounds and their variance).
# Imbens, G. W. & Manski, C. F. (2004) Econometrica 72:1845-1857, eq. (6) (the CI).
# Horowitz, J. L. & Manski, C. F. (2000) JASA 95:77-84 (worst/best-case bounds).

d <- read.csv("tests/reference/data/attrition.csv", na.strings = c("", "NA"))
level <- 0.95

# The trimmed mean as (1 / share) * integral of the empirical quantile function Q(u) over
# u in [from, to] (to - from = share kept). Respondent i (sorted) holds u in [(i-1)/m, i/m].
# Returns the mean, the plug-in variance over the kept mass and the cut value (the kept
# value nearest the trimmed end).
trimmed_moments <- function(y, from, to) {
  y <- sort(y)
  m <- length(y)
  i <- seq_len(m)
  w <- pmax(0, pmin(i / m, to) - pmax((i - 1) / m, from))
  w[w < 1e-12] <- 0           # slivers from floating-point rounding of the share
  share <- to - from
  mu <- sum(w * y) / share
  v <- sum(w * (y - mu)^2) / share
  kept <- which(w > 0)
  cut <- if (from > 0) y[min(kept)] else y[max(kept)]
  list(mean = mu, var = v, cut = cut)
}

im_ci <- function(lb, ub, se_lb, se_ub, level) {
  delta <- (ub - lb) / max(se_lb, se_ub)
  f <- function(c) pnorm(c + delta) - pnorm(-c) - level
  c <- uniroot(f, c(0, 10), tol = 1e-15)$root
  c(ci_low = lb - c * se_lb, ci_high = ub + c * se_ub, critical_value = c)
}

lee <- function(y1, y0) {
  n1 <- length(y1); n0 <- length(y0)
  s1 <- mean(!is.na(y1)); s0 <- mean(!is.na(y0))   # observed shares, E[S | D]
  o1 <- y1[!is.na(y1)]; o0 <- y0[!is.na(y0)]
  pvar <- function(x) mean((x - mean(x))^2)           # plug-in variance
  if (isTRUE(all.equal(s1, s0, tolerance = 1e-14))) {
    est <- mean(o1) - mean(o0)
    se <- sqrt(pvar(o1) / length(o1) + pvar(o0) / length(o0))
    return(c(lower = est, upper = est, se_lower = se, se_upper = se,
             im_ci(est, est, se, se, level), trim_share = 0))
  }
  trim_treated <- s1 > s0
  p <- if (trim_treated) (s1 - s0) / s1 else (s0 - s1) / s0
  # Var(p-hat) by the delta method on the two independent binomial shares.
  var_p <- (1 - p)^2 * ((1 - s0) / (s0 * n0) + (1 - s1) / (s1 * n1))
  tr <- if (trim_treated) o1 else o0
  ot <- if (trim_treated) o0 else o1
  v_other <- pvar(ot) / length(ot)
  bound_var <- function(tm) {
    (tm$var + p * (tm$cut - tm$mean)^2) / ((1 - p) * length(tr)) +
      ((tm$cut - tm$mean) / (1 - p))^2 * var_p + v_other
  }
  low <- trimmed_moments(tr, 0, 1 - p)   # keep the lowest 1 - p
  high <- trimmed_moments(tr, p, 1)      # keep the highest 1 - p
  if (trim_treated) {
    lb <- low$mean - mean(ot); ub <- high$mean - mean(ot)
    se_lb <- sqrt(bound_var(low)); se_ub <- sqrt(bound_var(high))
  } else {
    lb <- mean(ot) - high$mean; ub <- mean(ot) - low$mean
    se_lb <- sqrt(bound_var(high)); se_ub <- sqrt(bound_var(low))
  }
  c(lower = lb, upper = ub, se_lower = se_lb, se_upper = se_ub,
    im_ci(lb, ub, se_lb, se_ub, level), trim_share = p)
}

worst_best <- function(y1, y0) {
  fill <- function(y, v) mean(ifelse(is.na(y), v, y))
  n1 <- length(y1); n0 <- length(y0)
  lo1 <- fill(y1, 0); hi1 <- fill(y1, 1); lo0 <- fill(y0, 0); hi0 <- fill(y0, 1)
  lb <- lo1 - hi0; ub <- hi1 - lo0
  se_lb <- sqrt(lo1 * (1 - lo1) / n1 + hi0 * (1 - hi0) / n0)
  se_ub <- sqrt(hi1 * (1 - hi1) / n1 + lo0 * (1 - lo0) / n0)
  c(lower = lb, upper = ub, se_lower = se_lb, se_upper = se_ub,
    im_ci(lb, ub, se_lb, se_ub, level))
}

num <- function(x) trimws(formatC(as.numeric(x), digits = 17, format = "g"))
rows <- list()
for (name in unique(d$dataset)) {
  s <- d[d$dataset == name, ]
  y1 <- s$y[s$arm == "active"]; y0 <- s$y[s$arm == "control"]
  out <- list(lee = lee(y1, y0))
  if (name == "binary") out$worst_best <- worst_best(y1, y0)
  for (method in names(out)) {
    v <- out[[method]]
    rows[[length(rows) + 1]] <- data.frame(dataset = name, method = method,
                                           quantity = names(v), value = num(v))
  }
}
res <- do.call(rbind, rows)
dir.create("tests/reference/output", showWarnings = FALSE)
write.csv(res, "tests/reference/output/lee_bounds.csv", row.names = FALSE, quote = FALSE)
writeLines(R.version.string, "tests/reference/output/lee_bounds_versions.txt")
print(res)
