#!/usr/bin/env bash
# The orgctl plan of a pull request as ONE comment, updated in place on every
# push. The comment starts with a hidden marker; the next run edits the
# comment that carries it (and was written by the same account) instead of
# adding another.
#
#   plan-comment.sh body DIR       print the comment made from DIR/plan.md
#                                  (no plan there: a notice that planning failed)
#   plan-comment.sh find [LOGIN]   read a JSON array of comments (GitHub) or
#                                  notes (GitLab) on stdin; print the id of ours
#   plan-comment.sh github PR DIR  create or update the comment of pull request PR
#                                  (GITHUB_TOKEN, GITHUB_REPOSITORY; GITHUB_API_URL)
#   plan-comment.sh gitlab MR DIR  create or update the note of merge request MR
#                                  (ORGCTL_GITLAB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID)
#
# Optional environment: ORGCTL_COMMENT_NOTE (Markdown shown above the plan),
# ORGCTL_COMMIT (the commit planned), ORGCTL_RUN_URL (the run holding the saved
# plan), ORGCTL_COMMENT_KEY (one comment per key, for several workflows on one
# pull request), ORGCTL_COMMENT_AUTHOR (whose comment to update; GitHub:
# github-actions[bot], GitLab: the token's user).
# Needs bash, curl, jq and awk.
set -euo pipefail

MARKER="<!-- orgctl-plan${ORGCTL_COMMENT_KEY:+ $ORGCTL_COMMENT_KEY} -->"
# GitHub refuses longer comments (GitLab allows more; one limit for both).
LIMIT=65536

die() {
    echo "plan-comment.sh: $*" >&2
    exit 1
}

# The comment for DIR: marker, note, the plan (cut to fit), footer.
body() {
    local dir=$1 plan="$1/plan.md" head foot
    head=$MARKER$'\n'
    if [[ -n ${ORGCTL_COMMENT_NOTE:-} ]]; then
        head+=$ORGCTL_COMMENT_NOTE$'\n\n'
    fi
    foot=$'\n<sub>orgctl'
    if [[ -n ${ORGCTL_COMMIT:-} ]]; then
        foot+=" · commit ${ORGCTL_COMMIT:0:12}"
    fi
    if [[ -n ${ORGCTL_RUN_URL:-} ]]; then
        foot+=" · [run and saved plan](${ORGCTL_RUN_URL})"
    fi
    foot+=$'</sub>\n'
    printf '%s' "$head"
    if [[ -s $plan ]]; then
        # Bytes, not characters: never more than the limit in any locale.
        fit "$plan" $((LIMIT - ${#head} - ${#foot} - 400))
    else
        printf '### orgctl plan failed\n\nNo plan was made: the files are invalid or the live directory could not be read. The errors are in the job log%s.\n' \
            "${ORGCTL_RUN_URL:+ ([run](${ORGCTL_RUN_URL}))}"
    fi
    printf '%s' "$foot"
}

# FILE whole when it fits in BUDGET bytes; otherwise its first lines, with
# open code fences and <details> closed, and how much was left out.
fit() {
    local file=$1 budget=$2
    if (($(wc -c <"$file") <= budget)); then
        cat "$file"
        return
    fi
    awk -v budget="$budget" '
        { total++ }
        !cut && used + length($0) + 1 > budget { cut = 1 }
        !cut {
            print
            used += length($0) + 1
            shown++
            if ($0 ~ /^```/) fence = !fence
            if (!fence && $0 ~ /^<details>/) open++
            if (!fence && $0 ~ /^<\/details>/) open--
        }
        END {
            if (fence) print "```"
            if (open > 0) print "\n</details>"
            printf "\n> **Plan truncated to fit a comment:** %d of %d lines shown. The full plan is `plan.md` in the saved plan of this run.\n", shown, total
        }' "$file"
}

# The id of the first comment that starts with the marker (and, given LOGIN,
# was written by LOGIN); nothing when there is none.
find_ours() {
    local login=${1:-}
    jq -r --arg marker "$MARKER" --arg login "$login" '
        [ .[]
          | select((.body // "") | startswith($marker))
          | select(.system != true)
          | select($login == "" or ((.user.login // .author.username) == $login)) ]
        | first | .id // empty'
}

# curl with the token in a config read from a pipe, never on the command line.
call() {
    local header=$1
    shift
    curl -fsSL --retry 3 -K <(printf 'header = "%s"\n' "$header") "$@"
}

# Lists the comments at URL page by page until ours is found; prints its id.
find_in_pages() {
    local url=$1 header=$2 login=$3 page=1 sep='?' chunk id
    [[ $url == *\?* ]] && sep='&'
    while :; do
        chunk=$(call "$header" "$url${sep}per_page=100&page=$page")
        id=$(find_ours "$login" <<<"$chunk")
        if [[ -n $id ]]; then
            echo "$id"
            return
        fi
        if (($(jq length <<<"$chunk") < 100)); then
            return
        fi
        page=$((page + 1))
    done
}

# Updates our comment (METHOD to ONE/id) or, when there is none, creates it
# (POST to CREATE); LIST is where the comments are read.
upsert() {
    local header=$1 list=$2 create=$3 one=$4 method=$5 login=$6 dir=$7 id payload
    payload=$(body "$dir" | jq -Rs '{body: .}')
    id=$(find_in_pages "$list" "$header" "$login")
    if [[ -n $id ]]; then
        call "$header" -X "$method" -H 'Content-Type: application/json' --data-binary "$payload" "$one/$id" >/dev/null
        echo "Updated the plan comment $id."
    else
        call "$header" -X POST -H 'Content-Type: application/json' --data-binary "$payload" "$create" >/dev/null
        echo "Posted the plan comment."
    fi
}

case ${1:-} in
body)
    [[ $# -eq 2 ]] || die "usage: plan-comment.sh body DIR"
    body "$2"
    ;;
find)
    find_ours "${2:-}"
    ;;
github)
    [[ $# -eq 3 ]] || die "usage: plan-comment.sh github PR DIR"
    : "${GITHUB_TOKEN:?set GITHUB_TOKEN}" "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY}"
    api="${GITHUB_API_URL:-https://api.github.com}/repos/$GITHUB_REPOSITORY"
    upsert "Authorization: Bearer $GITHUB_TOKEN" "$api/issues/$2/comments" "$api/issues/$2/comments" \
        "$api/issues/comments" PATCH \
        "${ORGCTL_COMMENT_AUTHOR-github-actions[bot]}" "$3"
    ;;
gitlab)
    [[ $# -eq 3 ]] || die "usage: plan-comment.sh gitlab MR DIR"
    : "${ORGCTL_GITLAB_TOKEN:?set ORGCTL_GITLAB_TOKEN}" "${CI_API_V4_URL:?}" "${CI_PROJECT_ID:?}"
    header="PRIVATE-TOKEN: $ORGCTL_GITLAB_TOKEN"
    login=${ORGCTL_COMMENT_AUTHOR-$(call "$header" "$CI_API_V4_URL/user" | jq -r .username)}
    notes="$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$2/notes"
    upsert "$header" "$notes?sort=asc&order_by=created_at" "$notes" "$notes" PUT "$login" "$3"
    ;;
*)
    die "usage: plan-comment.sh body DIR | find [LOGIN] | github PR DIR | gitlab MR DIR"
    ;;
esac
