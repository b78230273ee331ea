// Package secret reads the UserSig secret key from AWS Secrets Manager once, at cold
// start, so it never appears in the template, samconfig or the function's environment.
package secret

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// API is the part of the Secrets Manager client used.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Fetch returns the secret string of id (an ARN or name). Its value has the format of
// CALLKIT_SECRET_KEY: one key, or "appid:key,appid:key".
func Fetch(ctx context.Context, api API, id string) (string, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", id, err)
	}
	s := aws.ToString(out.SecretString)
	if s == "" {
		return "", errors.New("secret " + id + " has no SecretString")
	}
	return s, nil
}
