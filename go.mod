module github.com/hestiahealth/hestia

go 1.26
