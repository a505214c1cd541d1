#!/bin/sh
# One-shot MinIO setup, safe to run again: buckets, a least-privilege user for smallcut, and the
# bucket notification that sends every upload to the input bucket to the event receiver.
# POSIX sh and coreutils only: the mc image is minimal.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
INPUT_BUCKET="${INPUT_BUCKET:-catalog}"
OUTPUT_BUCKET="${OUTPUT_BUCKET:-cutouts}"
TARGET_ARN="${NOTIFY_TARGET_ARN:-arn:minio:sqs::SMALLCUT:webhook}"
MINIO_URL="${MINIO_URL:-http://minio:9000}"

mc alias set local "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null

mc mb --ignore-existing "local/$INPUT_BUCKET" "local/$OUTPUT_BUCKET"
mc anonymous set none "local/$INPUT_BUCKET"
mc anonymous set none "local/$OUTPUT_BUCKET"

# The workers get their own key pair, limited to the two buckets.
policy_file=/tmp/smallcut-rw.json
cat >"$policy_file" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::$INPUT_BUCKET", "arn:aws:s3:::$OUTPUT_BUCKET"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
     "Resource": ["arn:aws:s3:::$INPUT_BUCKET/*", "arn:aws:s3:::$OUTPUT_BUCKET/*"]}
  ]
}
EOF
mc admin policy create local smallcut-rw "$policy_file"
rm -f "$policy_file"
mc admin user add local "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
case "$(mc admin user info local "$S3_ACCESS_KEY")" in
  *smallcut-rw*) ;;
  *) mc admin policy attach local smallcut-rw --user "$S3_ACCESS_KEY" ;;
esac

# Uploads to the input bucket only: outputs go to another bucket, so no notification loop.
case "$(mc event ls "local/$INPUT_BUCKET" "$TARGET_ARN" 2>/dev/null || true)" in
  *"$TARGET_ARN"*) echo "notification $TARGET_ARN already set on $INPUT_BUCKET" ;;
  *) mc event add "local/$INPUT_BUCKET" "$TARGET_ARN" --event put ;;
esac
mc event ls "local/$INPUT_BUCKET"
echo "minio ready: input=$INPUT_BUCKET output=$OUTPUT_BUCKET"
